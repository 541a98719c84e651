"""A finished stage's adapter merged into an fp16 copy of its base model, for serving elsewhere.

The merge loads the base unquantized (merging into 4-bit weights would lose the adapter's precision),
so it first checks where it fits: the GPU, else the CPU, else a clear refusal before anything loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..models import from_pretrained, model_source, release_memory
from ..noise import library_warnings_silenced
from ..stages import require_stage

if TYPE_CHECKING:
    from ..session import Session

# Beyond its fp16 weights, a merge holds the adapter, one layer's LoRA delta (B @ A) and the loader's
# buffers: well under half a gigabyte for these models.
MERGE_SLACK = int(0.5e9)
GB = 1e9


def available_memory() -> tuple[int, int]:
    """(available RAM, free memory of the current CUDA device, 0 without one), in bytes."""
    import torch

    ram = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            ram = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        import os

        ram = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    vram = torch.cuda.mem_get_info()[0] if torch.cuda.is_available() else 0
    return ram, vram


def merge_device(spec, profile: dict, memory: tuple[int, int]) -> tuple[str, int]:
    """(device the merge runs on, bytes it needs): the GPU when its free memory holds the fp16 model,
    else the CPU when RAM does; otherwise a ConfigError that gives the sizes, before anything loads."""
    from ..planning.memory import meta_inventory
    from ..planning.workload import model_arch

    ram, vram = memory
    params = meta_inventory(spec.architecture, model_arch(spec, profile)).params
    need = params * 2 + MERGE_SLACK  # fp16: 2 bytes a parameter
    if profile.get("device") == "cuda" and vram >= need:
        return "cuda", need
    if ram >= need:
        return "cpu", need
    raise ConfigError(
        f"merging into {spec.id} needs about {need / GB:.1f} GB ({params / GB:.2f} B parameters x 2 bytes in fp16 "
        f"+ {MERGE_SLACK / GB:.1f} GB for the adapter and buffers), but this runtime has {ram / GB:.1f} GB of RAM and {vram / GB:.1f} GB of GPU "
        "memory free. Nothing was loaded. Use the adapter folder with the base model instead "
        "(AutoPeftModelForCausalLM, as the model card shows), free GPU memory (restart the runtime and merge "
        "before loading anything else), or merge on a machine with more memory.")


def export_merged(session: Session, model_name: str, stage: str, out_dir: str | Path | None = None,
                  *, memory: tuple[int, int] | None = None) -> Path:
    """The stage's adapter merged into an fp16 copy of the base model (for serving elsewhere).

    The base is loaded unquantized for this: merging into 4-bit weights would lose the adapter's precision.
    It is loaded where it fits (``memory``: available RAM and GPU bytes, measured when not given); a
    model that fits nowhere is refused before loading (Mistral-7B in fp16 is ~14.5 GB; Colab has 12.7 GB
    of RAM)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    spec = session.model(model_name, role="target")
    folder = require_stage(session, model_name, stage)
    if folder is None:
        raise ConfigError("the base stage has no adapter to merge")
    if memory is None:
        release_memory()  # what this process still caches counts as free
        memory = available_memory()
    device, need = merge_device(spec, session.profile, memory)
    out = Path(out_dir) if out_dir else session.workspace.merged_dir(spec.slug, stage)
    print(f"merging the {stage} adapter into {spec.id} in fp16 on the {device} (about {need / GB:.1f} GB)", flush=True)
    base = from_pretrained(AutoModelForCausalLM.from_pretrained, spec, model_source(spec, session.profile),
                           dtype=torch.float16, device_map=device)
    with library_warnings_silenced():
        merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    merged.generation_config = GenerationConfig.from_pretrained(str(folder))
    tmp = out.with_name(f".{out.name}.tmp")
    merged.save_pretrained(str(tmp), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(tmp))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out
