"""What each step of the pipeline processes, read from the profile and the model registry.

Both estimates (memory in :mod:`.plan`, wall time in :mod:`.timing`) start from these numbers, so
they always describe the same run. A profile value wins where it has one; the model's ``t4``
registry entry fills the rest. Settings of sections a profile does not have yet fall back to the
documented defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError, ModelSpec
from ..workspace import TRAINING_STAGES

# Notebook 06's benchmarks (IFEval, MMLU log-likelihoods, MT-Bench answers) and notebook 07's episodes run
# on every target; the generator plays notebook 07 as the reference agent.
PHASES = {"generator": ("generate", "agent"),
          "target": ("respond", "sft", "dpo", "ifeval", "mmlu", "mt_bench", "agent"),
          "reward": ("score",), "judge": ("judge",)}

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
    "sft": {"batch": ("training.sft.batch_size", "train_batch_size"),
            "max_length": ("training.sft.max_length", "max_length")},
    "dpo": {"batch": ("training.dpo.batch_size", "train_batch_size"),
            "max_length": ("training.dpo.max_length", "max_length")},
    "score": {"batch": ("preference.reward_batch_size", "batch_size"),
              "max_length": ("preference.reward_max_length", "max_length")},
    "ifeval": {"batch": ("evaluation.ifeval.batch_size", "batch_size"),
               "new": ("evaluation.ifeval.max_gen_toks", "max_new_tokens_response")},
    "mmlu": {"batch": ("evaluation.mmlu.batch_size", "batch_size")},
    "mt_bench": {"batch": ("evaluation.mt_bench.batch_size", "batch_size"),
                 "new": ("evaluation.mt_bench.max_new_tokens", "max_new_tokens_response")},
    "agent": {"batch": ("agent.batch_size", "batch_size"),
              "new": ("agent.max_new_tokens", "max_new_tokens_response")},
    "judge": {"batch": ("evaluation.mt_bench.judge_batch_size", "batch_size"),
              "new": ("evaluation.mt_bench.judge_max_new_tokens", "max_new_tokens_response"),
              "max_length": (None, "max_length")},
}

# Training settings when the profile has no `training` section (e.g. a bare profile in a test):
# LoRA r=16 on the registry's targets, checkpointing, fp32 AdamW, no trained chat-token rows.
TRAINING_DEFAULTS = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "gradient_checkpointing": None,
                     "optim": "adamw_torch", "train_chat_tokens": False, "epochs": 1, "grad_accum": None}


def lookup(profile: dict, dotted: str | None, default=None):
    """A dotted profile value, or ``default`` when the profile does not have it (or it is null)."""
    if not dotted:
        return default
    node = profile
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return default if node is None else node


def phases_of(spec: ModelSpec) -> list[str]:
    """The phases a model takes part in, in pipeline order of its roles."""
    return [phase for role in spec.roles for phase in PHASES[role]]


def phase_sizes(spec: ModelSpec, phase: str, profile: dict) -> dict[str, int]:
    """The sizes a phase runs at: the profile's value where it has one, else the model's ``t4`` one."""
    if phase not in SOURCES:
        raise ConfigError(f"unknown phase '{phase}' (known: {', '.join(SOURCES)})")
    sizes = {}
    for name, (profile_key, t4_key) in SOURCES[phase].items():
        value = lookup(profile, profile_key, spec.t4.get(t4_key))
        if value is None:
            raise ConfigError(f"model '{spec.slug}': phase '{phase}' needs t4.{t4_key} in the registry")
        sizes[name] = int(value)
    return sizes


@dataclass(frozen=True)
class Training:
    """One training stage of one model as the profile sets it up. DPO trains the SFT adapter further,
    so its adapter (rank, targets, dropout) is the SFT one."""

    stage: str
    batch: int
    grad_accum: int
    max_length: int
    epochs: float
    lora_r: int
    lora_targets: tuple[str, ...]
    lora_dropout: float
    gradient_checkpointing: bool
    optim: str
    train_chat_tokens: bool

    @property
    def effective_batch(self) -> int:
        return self.batch * self.grad_accum


def training_setup(spec: ModelSpec, stage: str, profile: dict) -> Training:
    """The ``training`` section (common keys, then ``sft``/``dpo``) resolved for one model."""
    if stage not in TRAINING_STAGES:
        raise ConfigError(f"unknown training stage '{stage}' (known: sft, dpo)")
    section = profile.get("training") or {}
    adapter = section.get("sft") or {}
    own = section.get(stage) or {}

    def value(key, default=None):
        for source in (own, adapter if key.startswith("lora") else {}, section):
            if source.get(key) is not None:
                return source[key]
        return TRAINING_DEFAULTS.get(key) if default is None else default

    sizes = phase_sizes(spec, stage, profile)
    grad_accum = value("grad_accum") or spec.t4.get("grad_accum") or 1
    return Training(
        stage=stage, batch=sizes["batch"], grad_accum=int(grad_accum), max_length=sizes["max_length"],
        epochs=float(value("epochs")), lora_r=int(value("lora_r")),
        lora_targets=tuple(value("lora_targets", list(spec.lora_targets))),
        lora_dropout=float(value("lora_dropout")), gradient_checkpointing=_checkpointing(spec, value("gradient_checkpointing")),
        optim=str(value("optim")), train_chat_tokens=bool(value("train_chat_tokens")),
    )


def _checkpointing(spec: ModelSpec, setting) -> bool:
    """The profile's ``gradient_checkpointing`` where it sets one; null: the model's
    ``t4.gradient_checkpointing`` (on when the registry does not say)."""
    if setting is None:
        setting = spec.t4.get("gradient_checkpointing", True)
    return bool(setting)


# Phases that only generate or score: a model whose ``t4.decode_weights`` is fp16 runs them on its nf4
# base dequantized to fp16 (about 2 bytes a weight streamed per decode step instead of 4.5).
INFERENCE_PHASES = ("generate", "respond", "ifeval", "mmlu", "mt_bench", "agent", "judge")


def decode_load(spec: ModelSpec, profile: dict) -> str:
    """The precision a model's weights have when it generates: ``t4.decode_weights`` when the profile
    quantizes (fp16: the nf4 base dequantized once after loading), else the loading precision."""
    load = model_load(spec, profile)
    if load == "nf4":
        return spec.t4.get("decode_weights", load)
    return load


# The toy stand-ins' registry entries leave the vocabulary to the tokenizer the toy world trains
# (about 3,600 tokens); a built world's config.json says exactly.
TOY_VOCAB = 3600


def model_arch(spec: ModelSpec, profile: dict) -> dict:
    """The architecture numbers a profile runs: the real model's, or its toy stand-in's."""
    if profile.get("world") != "toy":
        return spec.arch
    return {**spec.arch, **spec.toy, "vocab": _toy_vocab(spec, int(profile.get("seed", 42)))}


def _toy_vocab(spec: ModelSpec, seed: int) -> int:
    import json

    from ..toy import default_root, world_hash

    try:
        config = default_root() / world_hash(seed) / spec.slug / "config.json"
        return int(json.loads(config.read_text())["vocab_size"])
    except (OSError, ValueError, KeyError):
        return TOY_VOCAB


def model_load(spec: ModelSpec, profile: dict) -> str:
    """The precision weights are held in: the registry's ``load`` when the profile quantizes (or says
    nothing), else the profile's dtype."""
    if profile.get("quantize", True) or "dtype" not in profile:
        return spec.load
    return {"float32": "fp32"}.get(profile["dtype"], "fp16")
