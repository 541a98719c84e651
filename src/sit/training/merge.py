"""A finished stage's adapter merged into an fp16 copy of its base model, for serving elsewhere.

The merge loads the base unquantized (merging into 4-bit weights would lose the adapter's precision),
so it first checks where it fits, before anything loads: the GPU, else the CPU, else a clear refusal. It
also checks host RAM on either branch and free space where the files go, and says what it needs.

The weights are written in shards of at most 1 GB. transformers 5 writes one shard of up to 50 GB by default,
and safetensors copies a whole shard to host RAM and serializes it into one buffer: for Mistral-7B that is
2 x 14.5 GB against Colab's 12.7 GB of RAM, even when the merge itself ran on the GPU.
"""

from __future__ import annotations

import shutil
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
SHARD_BYTES = int(1e9)
# Host RAM that writing one shard takes: its tensors copied to the CPU, and the buffer safetensors serializes.
SHARD_RAM = 2
# Beside the weights: config, generation config and tokenizer files (a tokenizer.json is up to ~20 MB).
FILES_SLACK = int(0.1e9)
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


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the file system that ``path`` (or its nearest existing parent) lives on."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def fp16_params(spec, profile: dict) -> int:
    from ..planning.memory import meta_inventory
    from ..planning.workload import model_arch

    return meta_inventory(spec.architecture, model_arch(spec, profile)).params


def merge_device(spec, profile: dict, memory: tuple[int, int], *, shard_bytes: int = SHARD_BYTES
                 ) -> tuple[str, int]:
    """(device the merge runs on, bytes it needs there): the GPU when its free memory holds the fp16 model and
    host RAM holds a shard being written, else the CPU when RAM holds both; otherwise a ConfigError that gives
    the sizes, before anything loads."""
    ram, vram = memory
    params = fp16_params(spec, profile)
    need = params * 2 + MERGE_SLACK  # fp16: 2 bytes a parameter
    writing = SHARD_RAM * shard_bytes
    if profile.get("device") == "cuda" and vram >= need:
        if ram >= writing + MERGE_SLACK:
            return "cuda", need
        raise ConfigError(
            f"merging into {spec.id} on the GPU still needs about {(writing + MERGE_SLACK) / GB:.1f} GB of RAM "
            f"(safetensors copies each {shard_bytes / GB:.1f} GB shard to the CPU to write it), but this runtime has "
            f"{ram / GB:.1f} GB of RAM available. Nothing was loaded. Restart the runtime and export before "
            "loading anything else.")
    if ram >= need + writing:
        return "cpu", need + writing
    raise ConfigError(
        f"merging into {spec.id} needs about {need / GB:.1f} GB ({params / GB:.2f} B parameters x 2 bytes in fp16 "
        f"+ {MERGE_SLACK / GB:.1f} GB for the adapter and buffers) of GPU memory, or {(need + writing) / GB:.1f} GB "
        f"of RAM on the CPU (with a shard being written), but this runtime has {ram / GB:.1f} GB of RAM and "
        f"{vram / GB:.1f} GB of GPU memory free. Nothing was loaded. Use the adapter folder with the base model "
        "instead (AutoPeftModelForCausalLM, as the model card shows), free GPU memory (restart the runtime and "
        "merge before loading anything else), or merge on a machine with more memory.")


def check_destination(spec, out: Path, params: int, free: int) -> int:
    """Bytes the merged model takes at ``out``; a ConfigError when the file system there has less free.

    The old export, if any, is removed only after the new one is complete, so the check counts it as taken."""
    need = params * 2 + FILES_SLACK
    if free < need:
        raise ConfigError(
            f"the merged {spec.id} needs about {need / GB:.1f} GB of disk at {out}, but only {free / GB:.1f} GB is "
            "free there. Nothing was loaded. Free space (a free Google Drive holds 15 GB in all), or export to "
            "another folder (sit export --out DIR, or export_merged(..., out_dir=DIR)).")
    return need


def export_merged(session: Session, model_name: str, stage: str, out_dir: str | Path | None = None,
                  *, memory: tuple[int, int] | None = None, free_disk: int | None = None,
                  max_shard_size: int = SHARD_BYTES) -> Path:
    """The stage's adapter merged into an fp16 copy of the base model (for serving elsewhere).

    The base is loaded unquantized for this: merging into 4-bit weights would lose the adapter's precision.
    It is loaded where it fits (``memory``: available RAM and GPU bytes, measured when not given) and written
    in shards of ``max_shard_size`` bytes where ``free_disk`` (measured when not given) holds it. A model that
    fits nowhere is refused before loading (Mistral-7B in fp16 is ~14.5 GB; Colab has 12.7 GB of RAM)."""
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
    out = Path(out_dir) if out_dir else session.workspace.merged_dir(spec.slug, stage)
    device, need = merge_device(spec, session.profile, memory, shard_bytes=max_shard_size)
    disk = check_destination(spec, out, fp16_params(spec, session.profile),
                             free_disk if free_disk is not None else free_disk_bytes(out))
    ram = need if device == "cpu" else SHARD_RAM * max_shard_size + MERGE_SLACK
    on_gpu = f"{need / GB:.1f} GB of GPU memory, " if device == "cuda" else ""
    print(f"merging the {stage} adapter into {spec.id} in fp16 on the {device}: needs about {on_gpu}"
          f"{ram / GB:.1f} GB of RAM and {disk / GB:.1f} GB of disk at {out} (shards of "
          f"{max_shard_size / GB:g} GB)", flush=True)
    base = from_pretrained(AutoModelForCausalLM.from_pretrained, spec, model_source(spec, session.profile),
                           dtype=torch.float16, device_map=device)
    with library_warnings_silenced():
        merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    merged.generation_config = GenerationConfig.from_pretrained(str(folder))
    tmp = out.with_name(f".{out.name}.tmp")
    merged.save_pretrained(str(tmp), safe_serialization=True, max_shard_size=max_shard_size)
    AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
