"""``sit plan --calibrate``: measure this device's decoding and training rates instead of assuming them.

Each registered causal LM is built from its registry ``arch`` numbers with random weights (nothing is
downloaded), twice: with one and with two decoder layers, at its full width (``tiny``: a few dozen
units wide, for a CPU test; the default on a CPU unless the profile's models are the toy ones). The difference between the two is what one layer costs; the rest (the
embedding, the LM head, ``generate``'s bookkeeping) is what every step pays once. Extrapolated to the
model's real depth, that gives

- the seconds of one decoding step at several batch sizes (a short KV cache; the plan adds the
  cache's traffic at the phase's length), with the weights in the precision the model decodes in
  (``t4.decode_weights``; nf4 through bitsandbytes on CUDA);
- the realized FLOP/s of one training step (forward and activation gradients through a frozen base,
  the QLoRA case) over one micro-batch.

The plan then uses these in place of the T4's assumed fractions of peak, and says which figures were
measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..config import ModelSpec, Registry
from . import memory as mem
from .timing import Measured
from .workload import decode_load, model_arch

TINY = {"hidden": 64, "heads": 4, "kv_heads": 2, "intermediate": 128, "vocab": 512}
DECODE_BATCHES = {"full": (1, 8, 32), "tiny": (1, 4)}
TRAIN_TOKENS = {"full": (1, 512), "tiny": (2, 32)}  # (sequences, tokens each) of the timed training step
DECODE_STEPS = 4  # timed decoding steps per batch size (after one warm-up step)


@dataclass(frozen=True)
class Calibration:
    measured: dict[str, Measured]  # slug -> rates at the model's full depth
    device: str
    scale: str

    def lines(self) -> list[str]:
        out = [f"Measured on {self.device} ({self.scale}; random weights, 1- and 2-layer builds extrapolated to "
               "each model's depth):"]
        for slug, m in self.measured.items():
            steps = ", ".join(f"b{b} {s * 1e3:.1f} ms" for b, s in sorted(m.decode_step_s.items()))
            out.append(f"  {slug:<26} decoding step {steps}; training {m.train_flops / 1e12:.3f} TFLOP/s")
        return out


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _arch(spec: ModelSpec, profile: dict, layers: int, scale: str) -> dict:
    arch = dict(model_arch(spec, profile))
    if scale == "tiny":
        arch.update(TINY)
        arch.pop("head_dim", None)
    arch["layers"] = layers
    return arch


def _build(spec: ModelSpec, arch: dict, device: str, load: str, folder):
    """A random model of these numbers on ``device``: fp16 on CUDA (nf4 when the model decodes in nf4), fp32 on
    the CPU (its 16-bit and 4-bit kernels say nothing about a GPU)."""
    import torch
    import transformers

    if device == "cpu":
        return mem.build_model(spec.architecture, arch, "cpu").float().eval()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)  # built in 16 bits: an 8B model's embeddings alone are 2 GB in fp32
    try:
        model = mem.build_model(spec.architecture, arch, "cpu" if load == "nf4" else device)
    finally:
        torch.set_default_dtype(default)
    if load == "nf4":
        model.save_pretrained(folder)
        quant = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                bnb_4bit_use_double_quant=True,
                                                bnb_4bit_compute_dtype=torch.float16)
        return transformers.AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant,
                                                                 dtype=torch.float16, device_map=device).eval()
    return model.eval()


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _decode_step(model, batch: int, vocab: int, device: str) -> float:
    """Seconds of one cached decoding step of ``batch`` rows after a 16-token prompt."""
    import torch

    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, vocab, (batch, 16), generator=generator).to(device)
    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        _sync(device)
        times = []
        for _ in range(DECODE_STEPS + 1):  # the first step warms up
            started = time.perf_counter()
            out = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
            _sync(device)
            times.append(time.perf_counter() - started)
    return min(times[1:])  # the least disturbed step: other processes only ever add time


def _train_step(model, sequences: int, tokens: int, vocab: int, device: str) -> float:
    """Seconds of one forward and backward through the frozen model (activation gradients only)."""
    import torch

    for param in model.parameters():
        param.requires_grad_(False)
    ids = torch.randint(0, vocab, (sequences, tokens), generator=torch.Generator().manual_seed(1)).to(device)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    times = []
    for _ in range(3):  # the first pass warms up kernels and the allocator
        _sync(device)
        started = time.perf_counter()
        logits = model(inputs_embeds=embeds).logits
        logits.float().logsumexp(-1).mean().backward()
        _sync(device)
        times.append(time.perf_counter() - started)
        embeds.grad = None
    return min(times[1:])


def _at_depth(pair: list[float], depth: int) -> float:
    """Seconds at ``depth`` layers from those at one and two: the fixed part plus ``depth`` times one layer's."""
    per_layer = max(pair[1] - pair[0], 0.0)
    return max(pair[0] - per_layer, 0.0) + depth * per_layer


def calibrate(registry: Registry, profile: dict, *, scale: str | None = None, device: str | None = None,
              models: list[str] | None = None) -> Calibration:
    """Measure every causal LM of the registry (or ``models``) on ``device`` (default: CUDA if present)."""
    import tempfile

    import torch

    device = device or _device()
    # On a CPU the hub models' full width would take minutes a step; the toy models are tiny already.
    scale = scale or ("full" if device == "cuda" or profile.get("world") == "toy" else "tiny")
    if scale not in DECODE_BATCHES:
        raise ValueError(f"unknown calibration scale '{scale}' (known: {', '.join(DECODE_BATCHES)})")
    specs = [registry.get(m) for m in models] if models else [s for s in registry if s.architecture != "deberta-v2"]
    measured = {}
    torch.manual_seed(0)
    for spec in specs:
        load = decode_load(spec, profile) if device == "cuda" else "fp32"
        depth = int(model_arch(spec, profile)["layers"])
        steps = {b: [] for b in DECODE_BATCHES[scale]}
        train, params = [], []
        for layers in (1, 2):
            arch = _arch(spec, profile, layers, scale)
            with tempfile.TemporaryDirectory() as folder:
                model = _build(spec, arch, device, load, folder)
                vocab = int(arch["vocab"])
                for batch in steps:
                    steps[batch].append(_decode_step(model, batch, vocab, device))
                train.append(_train_step(model, *TRAIN_TOKENS[scale], vocab, device))
                params.append(mem.meta_inventory(spec.architecture, arch).params)
                del model
                if device == "cuda":
                    torch.cuda.empty_cache()

        sequences, tokens = TRAIN_TOKENS[scale]
        flops = 4 * (params[0] + (depth - 1) * (params[1] - params[0])) * sequences * tokens
        measured[spec.slug] = Measured({b: _at_depth(t, depth) for b, t in steps.items()},
                                       flops / max(_at_depth(train, depth), 1e-9), device, scale)
    return Calibration(measured, device, scale)
