"""Devices the plan can size a run for: memory, bandwidth, throughput, and what a run realizes of them.

Peak figures are the vendors' dense (no sparsity) fp16/bf16 tensor-core numbers and memory
bandwidths. The *realized* fractions are calibrated on the T4 only (see :mod:`.timing` for the
anchors). For other GPUs the plan assumes the same fractions of their peaks and says so. ``cpu`` is
the two-core machine the toy-world demo runs on, measured with the toy models themselves. For models
that small the per-layer overheads decide the time, not FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError

# HF + PEFT QLoRA training on a T4: 12.5 TFLOP/s realized by Unsloth on its anchor run (FineTome,
# Llama-3.2-3B) divided by the 1.5-2x (midpoint 1.67) that plain HF + PEFT is slower: 7.5 TFLOP/s,
# 11.5% of the T4's 65 TFLOP/s.
TRAIN_FRACTION = 7.5 / 65.0
# A batched decoding step with bitsandbytes nf4 weights streams the weights at about 60% of peak.
DECODE_FRACTION = 0.6
# A prefill (and an evaluation's loglikelihood forward) is a large fp16 GEMM: about 30% of peak.
PREFILL_FRACTION = 0.3
# torch.cuda.get_device_properties(0).total_memory on a Colab T4: 15,828,320,256 bytes (the card's 16 GB
# less what the driver reserves). A step must fit this, less the CUDA context (see plan.OVERHEAD_GIB).
T4_REPORTED_GIB = 15_828_320_256 / 1024**3


@dataclass(frozen=True)
class GPU:
    key: str
    name: str
    memory_gib: float  # usable per device: the budget a step must fit
    bandwidth_gbs: float  # peak memory bandwidth, GB/s
    peak_tflops: float  # dense fp16/bf16 tensor-core peak
    bf16: bool
    layer_overhead_ms: float  # per decoder layer and forward: kernel launches and the Python around them
    step_overhead_ms: float  # per forward, whatever the depth: generate's loop, sampling, cache bookkeeping
    startup_s: float  # a notebook's kernel start, imports and setup cell
    load_gbs: float  # reading a 16-bit checkpoint into the device (hub download + quantization on Colab)
    train_fraction: float = TRAIN_FRACTION
    decode_fraction: float = DECODE_FRACTION
    prefill_fraction: float = PREFILL_FRACTION
    calibrated: bool = False

    @property
    def train_flops(self) -> float:
        return self.peak_tflops * 1e12 * self.train_fraction

    @property
    def prefill_flops(self) -> float:
        return self.peak_tflops * 1e12 * self.prefill_fraction

    @property
    def bandwidth(self) -> float:
        return self.bandwidth_gbs * 1e9 * self.decode_fraction


GPUS = {
    "t4": GPU("t4", "NVIDIA T4 16 GB (free Colab)", T4_REPORTED_GIB, 320, 65, False, 0.25, 3, 25, 0.15, calibrated=True),
    "l4": GPU("l4", "NVIDIA L4 24 GB", 22.0, 300, 121, True, 0.15, 2, 25, 0.3),
    "a100-40gb": GPU("a100-40gb", "NVIDIA A100 40 GB", 38.5, 1555, 312, True, 0.1, 1.5, 25, 0.5),
    "a100-80gb": GPU("a100-80gb", "NVIDIA A100 80 GB", 78.0, 2039, 312, True, 0.1, 1.5, 25, 0.5),
    "h100-80gb": GPU("h100-80gb", "NVIDIA H100 80 GB SXM", 78.0, 3350, 989, True, 0.08, 1, 25, 0.5),
    # This machine's two cores in fp32, timed on the toy models (HF generate: ~18 ms a step when the
    # machine is otherwise idle). For models this small the fixed costs decide the time.
    "cpu": GPU("cpu", "2 CPU cores (toy world, fp32)", 20.0, 8, 0.05, False, 3.0, 12.0, 12, 0.5,
               train_fraction=0.5, decode_fraction=0.5, prefill_fraction=0.5, calibrated=True),
}


def get_gpu(key: str) -> GPU:
    try:
        return GPUS[key.lower()]
    except KeyError:
        raise ConfigError(f"unknown GPU '{key}' (known: {', '.join(GPUS)})") from None


def default_gpu(profile: dict) -> GPU:
    """The device a profile runs on: the CPU for the toy world, else the T4."""
    return GPUS["cpu" if profile.get("device") == "cpu" else "t4"]
