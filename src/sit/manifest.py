"""``manifest.json``: what produced an artifact folder (phase, profile, config, seed, versions, commit, times, counts)."""

from __future__ import annotations

import importlib.metadata
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


def write_manifest(folder: str | Path, *, phase: str, profile: str, config: dict, seed: int,
                   counts: dict, started_at: str, extra: dict | None = None) -> Path:
    manifest = {
        "phase": phase,
        "profile": profile,
        "config": config,
        "seed": seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "started_at": started_at,
        "finished_at": now(),
        "counts": counts,
    }
    if extra:
        manifest.update(extra)
    return write_json_atomic(Path(folder) / "manifest.json", manifest)


def read_manifest(folder: str | Path) -> dict | None:
    path = Path(folder) / "manifest.json"
    return read_json(path) if path.exists() else None
