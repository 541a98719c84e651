"""What the pipeline downloads from the hub, how often, and what keeping it on Drive costs.

On Colab every notebook gets its own runtime, and a runtime's disk starts empty: each notebook run
downloads every model it loads again, unless ``hf_cache_on_drive`` keeps the hub cache on Drive.
A checkpoint's size is its parameter count (the registry's architecture, counted exactly on the
meta device) times the bytes per parameter of the files the hub holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ModelSpec, Registry
from . import memory as mem

DOWNLOAD_MBS = 100  # assumed hub -> Colab bandwidth (MB/s); it varies, often between 50 and 200
FREE_DRIVE_GB = 15  # a free Google account's storage, shared with Gmail and Photos
# Bytes per parameter of the hub checkpoint: 16-bit safetensors, except the reward model's fp32 weights.
CHECKPOINT_BYTES = {"deberta-v2": 4}


@dataclass(frozen=True)
class Download:
    model: str
    bytes: int
    runs: int  # notebook runs (each a fresh runtime on Colab) that load the model

    @property
    def seconds(self) -> float:
        return self.bytes / (DOWNLOAD_MBS * 1e6)


def notebook_runs(spec: ModelSpec, targets: int) -> int:
    """Notebook runs that load ``spec``: a target in 03-07 (its own run of each); the generator in 01 and
    as 07's reference agent (once); the reward model in 03 and 05, the judge in 06 (once per target)."""
    per_role = {"generator": 2, "target": 5, "reward": 2 * targets, "judge": targets}
    return sum(per_role[role] for role in spec.roles)


def downloads(registry: Registry) -> list[Download]:
    targets = len(registry.by_role("target"))
    out = []
    for spec in registry:
        params = mem.meta_inventory(spec.architecture, spec.arch).params
        out.append(Download(spec.slug, params * CHECKPOINT_BYTES.get(spec.architecture, 2),
                            notebook_runs(spec, targets)))
    return out


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def download_table(items: list[Download]) -> str:
    width = max(len("model"), *(len(d.model) for d in items))
    lines = [f"{'model':<{width}}  {'size':>8}  {'once':>7}  {'runs':>4}  {'every runtime':>13}"]
    for d in items:
        lines.append(f"{d.model:<{width}}  {d.bytes / 1e9:>5.1f} GB  {_minutes(d.seconds):>7}  {d.runs:>4}  "
                     f"{_minutes(d.runs * d.seconds):>13}")
    size = sum(d.bytes for d in items) / 1e9
    once = sum(d.seconds for d in items)
    again = sum(d.runs * d.seconds for d in items)
    lines.append(f"Without the Drive cache every notebook run downloads its models again: "
                 f"{sum(d.runs * d.bytes for d in items) / 1e9:.0f} GB, {_minutes(again)} in all. "
                 f"With hf_cache_on_drive: true each model is downloaded once ({size:.0f} GB, {_minutes(once)}) "
                 f"and read from Drive after that; it needs {size:.0f} GB of Drive "
                 + (f"(a free account has {FREE_DRIVE_GB} GB: more storage, or only some models on Drive)."
                    if size > FREE_DRIVE_GB else "."))
    lines.append(f"Sizes: parameters x bytes of the hub files (16-bit; the reward model's fp32); time at an assumed "
                 f"{DOWNLOAD_MBS} MB/s. The wall times above count downloads inside each model load.")
    return "\n".join(lines)
