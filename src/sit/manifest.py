"""``manifest.json``: what produced an artifact folder (phase, profile, config, seed, versions, commit, times, counts).

What ``sit run-all`` reads to skip a finished step or call it stale (every key but ``config`` optional):

- ``config``: the effective settings of the profile section(s) the step read, after overrides.
  ``config_fingerprint`` (written automatically) names them in one string.
- ``world`` (or ``fingerprint.world``): the world the models came from (``hub`` or ``toy:<hash>``).
- ``status``: ``"running"`` while a step writes into the folder, ``"complete"`` at the end. A folder
  whose manifest is written only at the end may leave it out.
- ``models``: for a folder that several per-model runs share, the ids (or slugs) of the models
  whose part is complete.
- ``figures``: one or two headline numbers for the run summary, e.g. ``{"pairs": 600}`` or
  ``{"final_loss": 0.82}``.
- ``runs``: for a folder that several calls write (a notebook run per model, a resumed run, the agent's
  baselines beside its models), each session's wall time on the step, keyed by the session's ``run_id``:
  ``{"started_at", "finished_at", "seconds"}`` from its first call's start to its last write. The step's
  cost is their sum; ``started_at``/``finished_at`` alone span only the latest session.
- ``device``: ``cuda`` or ``cpu``, where the step ran.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from .store import read_json, write_json_atomic

PACKAGES = ("synthetic-instruction-tuner", "torch", "transformers", "tokenizers", "trl", "peft",
            "accelerate", "datasets", "bitsandbytes", "lm_eval", "py3langid")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device() -> str:
    """``cuda`` when the process has torch loaded and a GPU; a step that never imported torch ran on the CPU."""
    torch = sys.modules.get("torch")
    try:
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a broken CUDA setup still ran the step somewhere: on the CPU
        return "cpu"


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except (TypeError, ValueError):
        return None


def step_runs(folder: str | Path, *, run: str, started_at: str, finished_at: str, world: str | None) -> dict:
    """The folder's ``runs`` with this session's entry added (or updated: a session that writes again extends
    its span). Runs recorded in another world are dropped, as their artifacts are."""
    old = read_manifest(folder) or {}
    runs = dict(old.get("runs") or {}) if manifest_world(old) == world else {}
    runs[run] = {"started_at": started_at, "finished_at": finished_at,
                 "seconds": _seconds_between(started_at, finished_at)}
    return runs


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and sha else None


def config_fingerprint(config: dict) -> str:
    """A short stable name for a step's effective settings (key order does not matter)."""
    canonical = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def manifest_world(manifest: dict) -> str | None:
    """The world a manifest records, wherever the phase put it."""
    return manifest.get("world") or (manifest.get("fingerprint") or {}).get("world")


def write_manifest(folder: str | Path, *, phase: str, profile: str, config: dict, seed: int,
                   counts: dict, started_at: str, extra: dict | None = None, world: str | None = None,
                   status: str | None = None, models: list[str] | None = None,
                   figures: dict | None = None, run: str | None = None) -> Path:
    """Write ``manifest.json``; ``run`` (the session's ``run_id``) adds this session's wall time to ``runs``."""
    manifest = {
        "phase": phase,
        "profile": profile,
        "config": config,
        "config_fingerprint": config_fingerprint(config),
        "seed": seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "started_at": started_at,
        "finished_at": now(),
        "counts": counts,
        "device": device(),
    }
    optional = {"world": world, "status": status, "figures": figures,
                "models": sorted(models) if models is not None else None}
    manifest.update({key: value for key, value in optional.items() if value is not None})
    if extra:
        manifest.update(extra)
    if run is not None:
        manifest["runs"] = step_runs(folder, run=run, started_at=started_at, finished_at=manifest["finished_at"],
                                     world=manifest_world(manifest))
    return write_json_atomic(manifest_path(folder), manifest)


def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / "manifest.json"


def read_manifest(folder: str | Path) -> dict | None:
    path = manifest_path(folder)
    return read_json(path) if path.exists() else None


def models_done(folder: str | Path, world: str, model: str) -> list[str]:
    """The models a shared folder is complete for, ``model`` added (others only if made in the same world)."""
    manifest = read_manifest(folder) or {}
    earlier = manifest.get("models") or ([manifest["model"]] if manifest.get("model") else [])
    return sorted({*(earlier if manifest_world(manifest) == world else []), model})
