"""``sit plan``: peak GPU memory of every registered model in every phase it takes part in, on a T4.

Each step's peak is the largest of a few candidate moments (prefill or the end of decoding for
generation; backpropagating through a checkpointed layer, the LM head, or DPO's reference forward
for training). An :class:`Estimate` reports the components live at that moment, in bytes, and
whether their sum fits the budget. The arithmetic lives in :mod:`sit.training.memory`.

Phase sizes come from each model's ``t4`` registry entry; profile values override them where they
overlap (``generation.*`` for the generator, ``preference.*`` for response generation and scoring).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace

from ..config import ConfigError, ModelSpec, Registry, load_profile, load_registry, parse_set_args
from . import memory as mem

GIB = 1024**3
DEFAULT_BUDGET_GIB = 15.0  # a T4 has 16 GB; about 15 are usable
OVERHEAD_GIB = 0.8  # CUDA context, cuBLAS workspace and caching-allocator slack

PHASES = {"generator": ("generate",), "target": ("respond", "sft", "dpo"), "reward": ("score",),
          "judge": ("judge",)}

# Where each phase's sizes come from: (profile key or None, key of the model's `t4` entry).
SOURCES = {
    "generate": {"batch": ("generation.batch_size", "batch_size"),
                 "instruction": ("generation.max_new_tokens_instruction", "max_new_tokens_instruction"),
                 "new": ("generation.max_new_tokens_response", "max_new_tokens_response"),
                 "max_length": (None, "max_length")},
    "respond": {"batch": ("preference.batch_size", "batch_size"),
                "instruction": ("generation.max_new_tokens_instruction", "max_new_tokens_instruction"),
                "new": ("preference.max_new_tokens_response", "max_new_tokens_response"),
                "max_length": (None, "max_length")},
    "sft": {"batch": (None, "train_batch_size"), "max_length": (None, "max_length")},
    "dpo": {"batch": (None, "train_batch_size"), "max_length": (None, "max_length")},
    "score": {"batch": ("preference.reward_batch_size", "batch_size"),
              "max_length": ("preference.reward_max_length", "max_length")},
    "judge": {"batch": (None, "batch_size"), "new": (None, "max_new_tokens_response"),
              "max_length": (None, "max_length")},
}


@dataclass(frozen=True)
class Settings:
    """What the estimate assumes beyond the model and its phase sizes."""

    profile: dict = field(default_factory=dict)  # the effective profile (overrides `t4` values)
    budget_gib: float = DEFAULT_BUDGET_GIB
    overhead_gib: float = OVERHEAD_GIB
    lora_r: int = 16
    dropout_mask_bytes: int = 1  # LoRA dropout keeps a bool mask per adapter input on CUDA; 0 = no dropout
    fused_lm_head: bool = True  # TRL's SFT/DPO trainers score in tiles; False = full (tokens x vocab) logits
    template_tokens: int = 64  # chat-template and system-prompt tokens around an instruction
    padded: bool = True  # batches carry padding, so attention gets an explicit mask


@dataclass(frozen=True)
class Estimate:
    """Peak memory of one model in one phase, by component (bytes), at the moment of the peak."""

    model: str
    phase: str
    load: str
    params: int
    workload: str
    peak_at: str
    weights: int
    lora: int
    optimizer: int
    gradients: int
    activations: int
    kv_cache: int
    logits: int
    overhead: int
    total: int
    budget: int
    fits: bool


@dataclass(frozen=True)
class Moment:
    """The components that change between candidate peak moments of one step."""

    name: str
    activations: int = 0
    kv_cache: int = 0
    logits: int = 0

    @property
    def total(self) -> int:
        return self.activations + self.kv_cache + self.logits


def phases_of(spec: ModelSpec) -> list[str]:
    """The phases a model takes part in, in pipeline order of its roles."""
    return [phase for role in spec.roles for phase in PHASES[role]]


def _lookup(profile: dict, dotted: str | None):
    """A dotted profile value, or None when the profile does not have it."""
    node = profile
    for part in dotted.split(".") if dotted else ():
        node = node.get(part) if isinstance(node, dict) else None
    return node if dotted else None


def phase_sizes(spec: ModelSpec, phase: str, profile: dict) -> dict[str, int]:
    """The sizes a phase runs at: the profile's value where it has one, else the model's ``t4`` one."""
    if phase not in SOURCES:
        raise ConfigError(f"unknown phase '{phase}' (known: {', '.join(SOURCES)})")
    sizes = {}
    for name, (profile_key, t4_key) in SOURCES[phase].items():
        value = _lookup(profile, profile_key)
        value = spec.t4.get(t4_key) if value is None else value
        if value is None:
            raise ConfigError(f"model '{spec.slug}': phase '{phase}' needs t4.{t4_key} in the registry")
        sizes[name] = int(value)
    return sizes


# --------------------------------------------------------------------------- candidate moments


def _generation_moments(inv: mem.Inventory, load: str, batch: int, prompt: int, new: int,
                        settings: Settings) -> list[Moment]:
    """Prefill of the padded prompts (inside a layer), and the last decoding step: full cache, the
    keys of one layer being copied by ``torch.cat`` as the cache grows, and the next-token scores."""
    dequant = mem.dequant_bytes(inv, load)
    prefill = Moment("prefill", mem.inference_layer_bytes(inv, batch, prompt, padded=settings.padded) + dequant,
                     mem.kv_cache_bytes(inv, batch, prompt))
    cached = prompt + new - 1  # the last sampled token is never fed back
    growing = mem.kv_cache_bytes(inv, batch, cached - 1) // (2 * inv.layers)
    decode = Moment("decode", mem.inference_layer_bytes(inv, batch, 1, padded=False) + dequant + growing,
                    mem.kv_cache_bytes(inv, batch, cached), mem.sampling_bytes(inv, batch))
    return [prefill, decode]


def _training_moments(spec: ModelSpec, inv: mem.Inventory, sequences: int, seq: int, settings: Settings,
                      *, reference: bool) -> list[Moment]:
    """Backpropagation through the last checkpointed layer, the LM head's backward and, for DPO,
    the reference forward (adapters disabled, no gradients: inside a layer, then at its LM head) on
    top of what the policy's forward saved."""
    tokens = sequences * seq
    targets, r = spec.lora_targets, settings.lora_r
    dequant = mem.dequant_bytes(inv, spec.load)
    kept = mem.checkpoint_bytes(inv, tokens)
    layer = mem.training_layer_bytes(inv, targets, r, sequences, seq, padded=settings.padded,
                                     mask_bytes=settings.dropout_mask_bytes)
    head_saved = kept + mem.rms_norm_saved_bytes(inv, tokens)
    if settings.fused_lm_head:
        head = mem.fused_head_bytes(inv, tokens)
    else:
        head = mem.full_logits_bytes(inv, tokens)
    moments = [Moment("layer backward", kept + layer + dequant), Moment("head backward", head_saved, 0, head)]
    if reference:
        policy = head_saved + mem.COMPUTE_BYTES * mem.lora_params(inv, targets, r)  # + autocast's adapter copies
        forward = mem.inference_layer_bytes(inv, sequences, seq, padded=settings.padded) + dequant
        if settings.fused_lm_head:
            ref_logits = mem.fused_head_bytes(inv, tokens)
        else:
            ref_logits = mem.reference_logits_bytes(inv, tokens)
        moments += [Moment("reference forward", policy + forward), Moment("reference head", policy, 0, ref_logits)]
    return moments


def _moments(spec: ModelSpec, inv: mem.Inventory, phase: str, sizes: dict, settings: Settings):
    """(workload label, candidate moments) of one phase."""
    batch = sizes["batch"]
    if phase in ("generate", "respond", "judge"):
        new = sizes["new"]
        if phase == "judge":  # a judge prompt carries an instruction and two responses: the full window
            context = sizes["max_length"]
        else:  # the response stage reads the instruction back, wrapped in the chat template
            context = min(settings.template_tokens + sizes["instruction"] + new, sizes["max_length"])
        return f"b{batch} x {context} tok", _generation_moments(inv, spec.load, batch, context - new, new, settings)
    if phase == "score":
        if spec.architecture != "deberta-v2":
            raise ConfigError(f"model '{spec.slug}': the reward memory model covers DeBERTa-v2 only")
        seq = sizes["max_length"]
        # Relative positions span 2 x position_buckets (without buckets: 2 x max_positions).
        buckets = spec.arch.get("position_buckets") or spec.arch.get("max_positions", seq)
        return f"b{batch} x {seq} tok", [Moment("forward", mem.deberta_layer_bytes(inv, batch, seq, buckets))]
    sequences = batch * (2 if phase == "dpo" else 1)  # DPO batches chosen and rejected together
    label = f"{batch} pairs x {sizes['max_length']} tok" if phase == "dpo" else f"b{batch} x {sizes['max_length']} tok"
    return label, _training_moments(spec, inv, sequences, sizes["max_length"], settings, reference=phase == "dpo")


# --------------------------------------------------------------------------- estimate and plan


def estimate(spec: ModelSpec, phase: str, settings: Settings | None = None) -> Estimate:
    """Peak T4 memory of ``spec`` in ``phase`` under ``settings``."""
    settings = settings or Settings()
    inv = mem.meta_inventory(spec.architecture, spec.arch)
    label, moments = _moments(spec, inv, phase, phase_sizes(spec, phase, settings.profile), settings)
    peak = max(moments, key=lambda m: m.total)
    trainable = mem.lora_params(inv, spec.lora_targets, settings.lora_r) if phase in ("sft", "dpo") else 0
    fixed = {
        "weights": mem.weight_bytes(inv, spec.load),
        "lora": mem.FP32 * trainable,
        "optimizer": 2 * mem.FP32 * trainable,  # AdamW's exp_avg and exp_avg_sq
        "gradients": mem.FP32 * trainable,
        "overhead": int(settings.overhead_gib * GIB),
    }
    total = sum(fixed.values()) + peak.total
    budget = int(settings.budget_gib * GIB)
    return Estimate(model=spec.slug, phase=phase, load=spec.load, params=inv.params, workload=label,
                    peak_at=peak.name, activations=peak.activations, kv_cache=peak.kv_cache,
                    logits=peak.logits, total=total, budget=budget, fits=total <= budget, **fixed)


def plan(registry: Registry, profile: dict, settings: Settings | None = None) -> list[Estimate]:
    """One estimate per registered model and phase; ``profile`` overrides the ``t4`` sizes."""
    settings = replace(settings or Settings(), profile=profile)
    return [estimate(spec, phase, settings) for spec in registry for phase in phases_of(spec)]


# --------------------------------------------------------------------------- presentation

COMPONENTS = ("weights", "lora", "optimizer", "gradients", "activations", "kv_cache", "logits", "overhead", "total")
HEADINGS = ("weights", "lora", "optim", "grads", "activ", "kv", "logits", "ovhd", "total")


def _gib(value: int) -> str:
    return f"{value / GIB:.1f}"


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"


def plan_table(estimates: list[Estimate]) -> str:
    """A fixed-width table (GiB, one decimal) with a flag for every step over budget, and a summary."""
    name_width = max([len("model")] + [len(e.model) for e in estimates])
    work_width = max([len("batch x length")] + [len(e.workload) for e in estimates])
    head = (f"{'model':<{name_width}}  {'phase':<8} {'load':<4} {'params':>7}  {'batch x length':<{work_width}}  "
            + " ".join(f"{h:>6}" for h in HEADINGS) + "  fits    peak at")
    lines = [head, "-" * len(head)]
    for e in estimates:
        values = " ".join(f"{_gib(getattr(e, c)):>6}" for c in COMPONENTS)
        flag = "ok    " if e.fits else "✗ over"
        lines.append(f"{e.model:<{name_width}}  {e.phase:<8} {e.load:<4} {_count(e.params):>7}  "
                     f"{e.workload:<{work_width}}  {values}  {flag}  {e.peak_at}")
    lines.append("")
    lines.append(_summary(estimates))
    return "\n".join(lines)


def _summary(estimates: list[Estimate]) -> str:
    budget = estimates[0].budget if estimates else int(DEFAULT_BUDGET_GIB * GIB)
    overhead = estimates[0].overhead if estimates else int(OVERHEAD_GIB * GIB)
    over = [f"{e.model}/{e.phase} ({_gib(e.total)} GiB)" for e in estimates if not e.fits]
    text = (f"Values in GiB. Budget {_gib(budget)} GiB per step; overhead = CUDA context, cuBLAS workspace and "
            f"allocator slack ({_gib(overhead)} GiB).\n")
    if not over:
        return text + f"All {len(estimates)} steps fit."
    return text + f"✗ {len(over)} of {len(estimates)} steps over budget: {', '.join(over)}"


def plan_dataframe(estimates: list[Estimate]):
    """The estimates as a pandas DataFrame, components in GiB."""
    import pandas as pd

    frame = pd.DataFrame([asdict(e) for e in estimates])
    for column in (*COMPONENTS, "budget"):
        frame[column] = frame[column] / GIB
    return frame


# --------------------------------------------------------------------------- command line


def register(subparsers) -> None:
    parser = subparsers.add_parser("plan", help="estimate peak T4 memory per model and phase")
    parser.add_argument("--profile", default="colab_t4", help="profile whose sizes override the registry's t4 ones")
    parser.add_argument("--budget-gib", type=float, default=DEFAULT_BUDGET_GIB, help="usable GPU memory per step")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set generation.batch_size=4 (repeatable)")
    parser.add_argument("--full-logits", action="store_true",
                        help="assume training materializes (tokens x vocab) logits instead of TRL's fused LM head")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, parse_set_args(args.set))
    settings = Settings(budget_gib=args.budget_gib, fused_lm_head=not args.full_logits)
    print(f"sit plan: profile {profile['name']}, T4 fp16, LoRA r={settings.lora_r}, "
          f"{'full logits' if args.full_logits else 'fused LM head'} for training")
    print(plan_table(plan(load_registry(), profile, settings)))
    return 0
