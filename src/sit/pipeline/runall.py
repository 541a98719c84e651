"""``sit run-all``: every notebook, in order, with papermill; finished steps are skipped.

Each run's status comes from its artifacts' manifests (:mod:`.state`). A complete run is skipped.
A pending one runs (the notebooks resume from their checkpoints). A stale one (made with another world,
seed or setting, or from inputs that change) stops the run before anything executes, unless
``rerun_stale``: then its artifacts, and those of everything downstream, are moved to
``<workspace>/stale/<time>/`` and rerun. Nothing upstream is touched, and nothing is deleted.
Executed notebooks go to ``<workspace>/runs/<profile>/``. The first failure stops the run.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError, load_profile, load_registry
from ..session import world_id, world_label
from ..workspace import Workspace, find_repo_root
from .execute import StepFailed, execute
from .state import COMPLETE, PENDING, STALE, Status, assess_all, set_aside
from .steps import Run, discover, downstream

# Toy worlds kept in the cache: the current one and the one before it.
KEEP_WORLDS = 2


@dataclass
class Outcome:
    run: Run
    status: str  # ran | skipped | failed | stale | not selected
    seconds: float | None = None
    figure: str = ""


def select(runs: list[Run], start: str | None, stop: str | None, models: list[str] | None, registry) -> list[bool]:
    """Which runs the options ask for (others are reported but never executed)."""
    wanted = {registry.get(name, role="target").slug for name in models} if models else None
    chosen = []
    for run in runs:
        ok = (start is None or run.number >= start.zfill(2)) and (stop is None or run.number <= stop.zfill(2))
        chosen.append(ok and (wanted is None or run.model is None or run.model.slug in wanted))
    return chosen


def prune_toy_worlds(root: Path, current: str, keep: int = KEEP_WORLDS) -> list[Path]:
    """Delete finished toy worlds in ``root`` but the current one and the most recent others (a world is
    a cache: the same seed rebuilds it). Builds in progress and locks are never touched."""
    worlds = [p for p in root.glob("*") if p.is_dir() and len(p.name) == 16 and (p / "manifest.json").is_file()
              and all(c in "0123456789abcdef" for c in p.name)]
    others = sorted((p for p in worlds if p.name != current), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = others[max(keep - 1, 0):]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _figure(run: Run, status: Status) -> str:
    manifest = status.manifest or {}
    if manifest.get("figures"):
        return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in manifest["figures"].items())
    if run.step is not None and run.step.figure is not None and manifest:
        try:
            return run.step.figure(manifest)
        except (TypeError, ValueError, KeyError):
            return ""
    return ""


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary_table(outcomes: list[Outcome]) -> str:
    rows = [("step", "model", "status", "time", "key figure")]
    rows += [(o.run.notebook.stem, o.run.model.slug if o.run.model else "", o.status, _clock(o.seconds), o.figure)
             for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(f"{cell:<{w}}" for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
             for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(line.rstrip() for line in lines)


def parameters(run: Run, profile_name: str, ws: Workspace, seed: int | None, overrides: dict) -> dict:
    """What papermill injects: only the parameters the notebook declares."""
    values = {"PROFILE": profile_name, "WORKSPACE": str(ws.root), "SEED": seed, "OVERRIDES": overrides or None}
    if run.model is not None:
        values["MODEL_NAME"] = run.model.id
    return {k: v for k, v in values.items() if k in run.declared and v is not None}


def run_all(profile: str = "demo", workspace: str | None = None, *, models: list[str] | None = None,
            start: str | None = None, stop: str | None = None, rerun_stale: bool = False,
            overrides: dict | None = None, seed: int | None = None, notebook_dir: Path | None = None,
            prune: bool = True, echo=print) -> list[Outcome]:
    """Run the pipeline; returns one outcome per notebook run. Raises :class:`StepFailed` on a failing
    notebook and :class:`ConfigError` on stale steps without ``rerun_stale``."""
    began = time.perf_counter()
    overrides = dict(overrides or {})
    config = load_profile(profile, overrides)
    if seed is not None:
        config["seed"] = seed
    registry = load_registry().for_profile(config)
    ws = Workspace(workspace)
    root = find_repo_root()
    notebook_dir = Path(notebook_dir) if notebook_dir else (root / "notebooks" if root else None)
    if notebook_dir is None or not notebook_dir.is_dir():
        raise ConfigError("run-all needs the repository's notebooks/ folder: run it from a checkout")
    world = _prepare_world(config, prune, echo)
    runs = discover(notebook_dir, registry.by_role("target"))
    chosen = select(runs, start, stop, models, registry)
    statuses = assess_all(runs, ws.root, config, world)
    stale = [r for r, s, c in zip(runs, statuses, chosen, strict=True) if s.state == STALE and c]
    if stale and not rerun_stale:
        raise ConfigError(_stale_message(runs, statuses, chosen, ws))
    if stale:
        moving = []
        for run in stale:
            moving += [r for r in downstream(runs, run) if r not in moving]
        moved = set_aside(moving, ws.root)
        for source, target in moved:
            echo(f"stale: moved {source.relative_to(ws.root)} -> {target.relative_to(ws.root)}")
        statuses = assess_all(runs, ws.root, config, world)
    out_dir = ws.runs_dir / config["name"]
    todo = sum(c and s.state != COMPLETE for s, c in zip(statuses, chosen, strict=True))
    echo(f"run-all: {len(runs)} notebook runs ({todo} to run), profile '{config['name']}', workspace {ws.root}")
    echo(f"world: {world_label(config, registry)} ({world})")
    outcomes = []
    for index, (run, status, wanted) in enumerate(zip(runs, statuses, chosen, strict=True), start=1):
        prefix = f"[{index:>2}/{len(runs)}] {run.label}"
        if not wanted:
            outcomes.append(Outcome(run, "not selected", figure=_figure(run, status)))
            continue
        if status.state == COMPLETE:
            echo(f"{prefix}: skipped (complete)")
            outcomes.append(Outcome(run, "skipped", figure=_figure(run, status)))
            continue
        output = out_dir / run.output_name
        echo(f"{prefix}: running ...", end="", flush=True)
        started = time.perf_counter()
        try:
            execute(run.notebook, output, parameters(run, config["name"], ws, seed, overrides), label=run.label)
        except StepFailed:
            echo(f" failed after {_clock(time.perf_counter() - started)}")
            raise
        seconds = time.perf_counter() - started
        after = assess_all([run], ws.root, config, world)[0] if run.step else Status(PENDING)
        echo(f" done in {_clock(seconds)}")
        outcomes.append(Outcome(run, "ran", seconds, _figure(run, after)))
    echo("")
    echo(summary_table(outcomes))
    echo(f"\nTotal {_clock(time.perf_counter() - began)}. Artifacts: {ws.data_dir}, {ws.models_dir}, "
         f"{ws.evaluation_dir}. Executed notebooks: {out_dir}")
    return outcomes


def _prepare_world(config: dict, prune: bool, echo) -> str:
    """The world id; for the toy world, build it if needed and (``prune``) delete old ones."""
    if config["world"] != "toy":
        return world_id(config)
    from ..toy import default_root, ensure_toy_world

    path = ensure_toy_world(int(config.get("seed", 42)))
    removed = prune_toy_worlds(default_root(), path.name) if prune else []
    if removed:
        echo(f"toy world: removed {len(removed)} old world(s) from {default_root()}")
    return world_id(config)


def _stale_message(runs, statuses, chosen, ws: Workspace) -> str:
    lines = [f"{run.label}: {'; '.join(status.reasons)}"
             for run, status, wanted in zip(runs, statuses, chosen, strict=True) if wanted and status.state == STALE]
    return (f"{len(lines)} step(s) in {ws.root} were made with other settings or inputs:\n  " + "\n  ".join(lines)
            + f"\nNothing was run. Rerun with --rerun-stale to move their artifacts aside (to {ws.root / 'stale'}/, "
            "nothing is deleted) and run them again with everything that depends on them.")
