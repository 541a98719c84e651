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
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
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
                   figures: dict | None = None) -> Path:
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
    }
    optional = {"world": world, "status": status, "figures": figures,
                "models": sorted(models) if models is not None else None}
    manifest.update({key: value for key, value in optional.items() if value is not None})
    if extra:
        manifest.update(extra)
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
