"""Peak GPU memory of every registered model in every phase it takes part in.

Each step's peak is the largest of a few candidate moments (prefill or the end of decoding for
generation; backpropagating through a layer, the LM head, or DPO's reference forward for training).
An :class:`Estimate` reports the components live at that moment, in bytes, and whether their sum
fits the budget. The arithmetic lives in :mod:`sit.planning.memory`; what each phase processes (batch,
lengths, the LoRA and optimizer setup of the profile's ``training`` section) in :mod:`.workload`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..config import ConfigError, ModelSpec, Registry
from . import memory as mem
from .gpus import T4_REPORTED_GIB
from .prompts import agent_prompts, mmlu_prompts
from .timing import LENGTHS
from .workload import (
    INFERENCE_PHASES,
    SOURCES,
    decode_load,
    model_arch,
    model_load,
    phase_sizes,
    phases_of,
    training_setup,
)

GIB = 1024**3
DEFAULT_BUDGET_GIB = T4_REPORTED_GIB  # what torch reports on a Colab T4 (total_memory)
OVERHEAD_GIB = 0.8  # CUDA context, cuBLAS workspace and caching-allocator slack


@dataclass(frozen=True)
class Settings:
    """What the estimate assumes beyond the model and its phase sizes."""

    profile: dict = field(default_factory=dict)  # the effective profile (overrides `t4` values)
    budget_gib: float = DEFAULT_BUDGET_GIB
    overhead_gib: float = OVERHEAD_GIB
    dropout_mask_bytes: int = 1  # with LoRA dropout, a bool mask per adapter input on CUDA; 0 = no mask
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
    embeddings: int  # fp32 copies of the embedding matrices whose chat-token rows train
    optimizer: int
    gradients: int
    activations: int
    kv_cache: int
    logits: int
    overhead: int
    total: int
    budget: int
    fits: bool
    max_batch: int | None = None  # decoding phases: the largest batch that fits the budget at these lengths


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


def _loglikelihood_moments(inv: mem.Inventory, load: str, batch: int, seq: int) -> list[Moment]:
    """lm-eval scores a right-padded batch without an attention mask (SDPA's causal path) and no cache
    reuse: inside the last layer, the cache the forward builds for every layer is alive; at the LM
    head, that cache, the final hidden states and the fp16 logits; then the logits and their
    ``log_softmax``, once the output (and its cache) is dropped."""
    dequant = mem.dequant_bytes(inv, load)
    kv = mem.kv_cache_bytes(inv, batch, seq)
    logits = mem.loglikelihood_logits_bytes(inv, batch, seq)
    return [Moment("forward", mem.inference_layer_bytes(inv, batch, seq, padded=False) + dequant, kv),
            Moment("lm head", batch * seq * inv.hidden * mem.COMPUTE_BYTES, kv, logits // 2),
            Moment("log_softmax", 0, 0, logits)]


def _training_moments(spec: ModelSpec, inv: mem.Inventory, sequences: int, seq: int, settings: Settings,
                      setup, *, reference: bool) -> list[Moment]:
    """Backpropagation through the last layer, the LM head's backward and, for DPO, the reference
    forward (adapters disabled, no gradients: inside a layer, then at its LM head) on top of what the
    policy's forward saved. With gradient checkpointing the forward keeps only every layer's input and
    the layer being backpropagated is recomputed; without it every layer keeps what it saved."""
    tokens = sequences * seq
    targets, r = setup.lora_targets, setup.lora_r
    mask_bytes = settings.dropout_mask_bytes if setup.lora_dropout > 0 else 0
    dequant = mem.dequant_bytes(inv, spec.load)
    saved, transient = mem.training_layer_parts(inv, targets, r, sequences, seq, padded=settings.padded,
                                                mask_bytes=mask_bytes)
    if setup.gradient_checkpointing:
        kept, layer = mem.checkpoint_bytes(inv, tokens), saved + transient
    else:
        kept, layer = inv.layers * saved, transient
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
    if phase == "mmlu":
        seq = mmlu_prompts(settings.profile).longest
        return f"b{batch} x {seq} tok", _loglikelihood_moments(inv, spec.load, batch, seq)
    if phase in EVALUATION_PROMPTS:
        new = sizes["new"]
        prompt = EVALUATION_PROMPTS[phase](spec, settings.profile, new)
        return f"b{batch} x {prompt + new} tok", _generation_moments(inv, spec.load, batch, prompt, new, settings)
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
    setup = training_setup(spec, phase, settings.profile)
    sequences = batch * (2 if phase == "dpo" else 1)  # DPO batches chosen and rejected together
    label = f"{batch} pairs x {sizes['max_length']} tok" if phase == "dpo" else f"b{batch} x {sizes['max_length']} tok"
    return label, _training_moments(spec, inv, sequences, sizes["max_length"], settings, setup,
                                    reference=phase == "dpo")


def _agent_prompt(spec: ModelSpec, profile: dict, new: int) -> int:
    return agent_prompts(profile, spec.arch.get("max_positions")).longest


# Prompt tokens of the generation phases of notebooks 06 and 07 (the longest prompt of each).
EVALUATION_PROMPTS = {
    "ifeval": lambda spec, profile, new: LENGTHS["template"] + LENGTHS["ifeval_prompt"],
    # the second turn carries the first question and a full first answer
    "mt_bench": lambda spec, profile, new: LENGTHS["template"] + 2 * LENGTHS["mt_bench_prompt"] + new,
    "agent": _agent_prompt,
}


# --------------------------------------------------------------------------- estimate and plan


def estimate(spec: ModelSpec, phase: str, settings: Settings | None = None) -> Estimate:
    """Peak memory of ``spec`` in ``phase`` under ``settings``."""
    settings = settings or Settings()
    load = decode_load(spec, settings.profile) if phase in INFERENCE_PHASES else model_load(spec, settings.profile)
    spec = replace(spec, arch=model_arch(spec, settings.profile), load=load)
    inv = mem.meta_inventory(spec.architecture, spec.arch)
    label, moments = _moments(spec, inv, phase, phase_sizes(spec, phase, settings.profile), settings)
    peak = max(moments, key=lambda m: m.total)
    adapters, embeddings, optim = [], [], "adamw_torch"
    if phase in ("sft", "dpo"):
        setup = training_setup(spec, phase, settings.profile)
        adapters = mem.lora_tensors(inv, setup.lora_targets, setup.lora_r)
        embeddings = mem.chat_token_tensors(inv) if setup.train_chat_tokens else []
        optim = setup.optim
    try:
        optimizer = mem.optimizer_bytes(adapters + embeddings, optim)
    except ValueError as exc:
        raise ConfigError(f"training.optim: {exc}") from exc
    fixed = {
        "weights": mem.weight_bytes(inv, spec.load),
        "lora": mem.FP32 * sum(adapters),
        "embeddings": mem.FP32 * sum(embeddings),
        "optimizer": optimizer,
        "gradients": mem.FP32 * (sum(adapters) + sum(embeddings)),
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
    return [replace(estimate(spec, phase, settings),
                    max_batch=largest_batch(spec, phase, settings) if phase in DECODE_PHASES else None)
            for spec in registry for phase in phases_of(spec)]


# Phases that decode with a batch the profile sets (the plan reports the largest that fits).
DECODE_PHASES = ("generate", "respond", "ifeval", "mt_bench", "agent", "judge")


def with_value(profile: dict, dotted: str, value) -> dict:
    """A copy of ``profile`` with one dotted value set."""
    import copy

    out = copy.deepcopy(profile)
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


def largest_batch(spec: ModelSpec, phase: str, settings: Settings | None = None, ceiling: int = 256) -> int:
    """The largest batch of ``phase`` whose peak fits the budget (0: not even one row), at the phase's lengths."""
    settings = settings or Settings()
    key = SOURCES[phase]["batch"][0]

    def fits(batch: int) -> bool:
        return estimate(spec, phase, replace(settings, profile=with_value(settings.profile, key, batch))).fits

    if not fits(1):
        return 0
    low, high = 1, ceiling
    if fits(high):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low
