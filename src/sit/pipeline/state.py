"""Is a notebook run finished, still to do, or stale? Read from its folders' ``manifest.json``.

A run is **complete** when every folder's manifest is finished, was made in the current world with
the current seed, records the current settings of the step's profile sections and, for a folder
several models share, lists the run's model. It is **stale** when a manifest says another world,
seed or setting, or when a step it reads from is stale or is about to run. Otherwise it is
**pending** (nothing there yet, or an interrupted run that the notebook resumes).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..manifest import manifest_world, read_manifest
from .steps import Run

COMPLETE, PENDING, STALE = "complete", "pending", "stale"


@dataclass
class Status:
    state: str
    reasons: list[str] = field(default_factory=list)  # for a stale run: what differs
    manifest: dict | None = None  # the run's (first) manifest, when it has one


def current_settings(profile: dict, sections: tuple[str, ...]) -> dict:
    """The profile's settings of these (dotted) sections, flattened to ``section.key`` names. A section
    that holds sub-sections (``training``) contributes only its own plain values."""
    flat = {}
    for dotted in sections:
        node = profile
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        for key, value in (node or {}).items():
            if not isinstance(value, dict):
                flat[f"{dotted}.{key}"] = value
    return flat


def _recorded(config: dict) -> dict:
    """A manifest's ``config`` with one level of sub-sections flattened (``sft.lora_r`` -> ``lora_r``)."""
    flat = dict(config)
    for value in config.values():
        if isinstance(value, dict):
            flat.update({k: v for k, v in value.items() if k not in flat})
    return flat


def config_changes(recorded: dict, current: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """``section.key: old -> new`` for every current setting the manifest records with another value.
    A setting left to the model's default (null) or not recorded by the phase is not compared."""
    recorded = _recorded(recorded or {})
    changes = []
    for name, value in current.items():
        key = name.rsplit(".", 1)[-1]
        if key in ignore or value is None or key not in recorded:
            continue
        if _normal(recorded[key]) != _normal(value):
            changes.append(f"{name}: {recorded[key]!r} -> {value!r}")
    return changes


def _normal(value):
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(value)


def assess(run: Run, root: Path, profile: dict, world: str) -> Status:
    """The run's own status, from its manifests (upstream steps are not looked at here)."""
    step = run.step
    if step is None:
        return Status(PENDING, ["not in the step table: always run"])
    manifests = [read_manifest(root / folder) if (root / folder).is_dir() else None for folder in run.folders()]
    if not manifests or any(m is None for m in manifests):
        return Status(PENDING, ["no finished artifacts"])
    reasons = []
    for manifest in manifests:
        made_in = manifest_world(manifest)
        if made_in is not None and made_in != world:
            reasons.append(f"world: {made_in!r} -> {world!r}")
        if manifest.get("seed") is not None and manifest["seed"] != profile.get("seed"):
            reasons.append(f"seed: {manifest['seed']!r} -> {profile.get('seed')!r}")
        reasons += config_changes(manifest.get("config") or {}, current_settings(profile, step.sections),
                                  step.ignore)
    if reasons:
        return Status(STALE, sorted(set(reasons)), manifests[0])
    if any(m.get("status", "complete") != "complete" for m in manifests):
        return Status(PENDING, ["interrupted: the notebook resumes it"], manifests[0])
    if run.model is not None and any(not {run.model.id, run.model.slug} & set(_models(m)) for m in manifests
                                     if "models" in m or "model" in m):
        return Status(PENDING, [f"{run.model.slug} not finished yet"], manifests[0])
    return Status(COMPLETE, [], manifests[0])


def _models(manifest: dict) -> list[str]:
    """The models a (shared) folder is complete for: ``models``, or the single ``model`` some phases write."""
    return manifest.get("models") or [manifest["model"]]


def assess_all(runs: list[Run], root: Path, profile: dict, world: str) -> list[Status]:
    """Every run's status, with staleness passed downstream: a run that reads from a stale run, or from
    one that is about to run, is stale (its inputs change) when it has artifacts to set aside."""
    statuses = []
    for run in runs:
        status = assess(run, root, profile, world)
        upstream = [(r, s) for r, s in zip(runs, statuses, strict=False) if run.depends_on(r)]
        changed = [r for r, s in upstream if s.state in (STALE, PENDING) and r.step is not None]
        if changed and status.state != STALE and has_artifacts(run, root) and run.step is not None:
            first = changed[0]
            first_status = next(s for r, s in upstream if r is first)
            verb = "is stale" if first_status.state == STALE else "runs first"
            status = Status(STALE, [f"its input changes: {first.label} {verb}"], status.manifest)
        statuses.append(status)
    return statuses


def has_artifacts(run: Run, root: Path) -> bool:
    """Anything in the run's folders but the READMEs a checkout ships in ``data/`` and ``evaluation/``."""
    return any((root / folder).is_dir() and any(p.name != "README.md" for p in (root / folder).iterdir())
               for folder in run.folders())


def set_aside(runs: list[Run], root: Path, stamp: str | None = None) -> list[tuple[Path, Path]]:
    """Move the artifact folders of these runs to ``<root>/stale/<stamp>/`` (same relative paths);
    nothing is deleted. Returns (from, to) for every folder moved."""
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    moved = []
    for run in runs:
        for folder in run.folders():
            source = root / folder
            if not source.exists():
                continue
            target = root / "stale" / stamp / folder
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            moved.append((source, target))
    return moved
