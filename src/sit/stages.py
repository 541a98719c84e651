"""A target model at one stage of its training (``base``, ``sft``, ``dpo``), as every phase after training loads it.

``sft`` and ``dpo`` are the base model with the stage's adapter (the DPO adapter is the SFT adapter
trained further, so it is loaded alone). Their tokenizer comes from the adapter folder: the chat template,
the pad token, and the end-of-turn token generation stops at. Every stage's model carries a neutral
generation config built from that tokenizer (:func:`sit.models.neutral_generation_config`), never the
hub's. ``base`` is
the registry's base model with the same chat template installed on its tokenizer, so that every stage
answers the same prompt; a base model was never trained on that template, which is the point of
comparing it. Every stage decodes on the base as :func:`sit.models.load_decoding_lm` loads it: nf4, or, where the
registry says ``t4.decode_weights: fp16`` (the 3B targets), those same nf4 weights dequantized once.

It sits below the phases: training writes the adapters, evaluation and the agent load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .config import ConfigError
from .manifest import read_manifest
from .models import load_decoding_lm, load_tokenizer, neutral_generation_config
from .noise import library_warnings_silenced
from .store import read_json
from .workspace import STAGES

if TYPE_CHECKING:
    from .session import Session

NOTEBOOK = {"sft": "04 (SFT)", "dpo": "05 (DPO)"}


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return stage


def stage_ready(session: Session, model_name: str, stage: str) -> bool:
    """Whether the stage can be used: base always, an adapter once its training finished."""
    check_stage(stage)
    if stage == "base":
        return True
    spec = session.registry.get(model_name, role="target")
    return (session.workspace.adapter_dir(spec.slug, stage) / "manifest.json").is_file()


def require_stage(session: Session, model_name: str, stage: str) -> Path | None:
    """The adapter folder of a finished stage (None for ``base``); a clear error when it is missing or foreign."""
    check_stage(stage)
    spec = session.registry.get(model_name, role="target")
    if stage == "base":
        return None
    folder = session.workspace.adapter_dir(spec.slug, stage)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no finished {stage.upper()} adapter for {spec.id} at {folder}. Run notebook "
                                f"{NOTEBOOK[stage]} for this model on this workspace first.")
    manifest = read_json(manifest_path)
    made = manifest.get("fingerprint") or {}
    if made.get("model") != spec.id or made.get("world") != session.world_id:
        raise ConfigError(f"{folder} holds an adapter trained on {made.get('model')!r} in world "
                          f"{made.get('world')!r}, not on {spec.id!r} in world {session.world_id!r}. "
                          f"Delete it (or use another workspace) and run notebook {NOTEBOOK[stage]} again.")
    return folder


def adapter_finished_at(session: Session, slug: str, stage: str) -> str | None:
    """When the stage's adapter was finished (a retrained adapter is another model); None for base."""
    if stage == "base":
        return None
    manifest = read_manifest(session.workspace.adapter_dir(slug, stage)) or {}
    return manifest.get("finished_at")


def load_stage(session: Session, model_name: str, stage: str, *, padding_side: str = "left"):
    """(model, tokenizer) of one stage, in eval mode."""
    spec = session.model(model_name, role="target")
    folder = require_stage(session, model_name, stage)
    if folder is None:
        tokenizer = load_tokenizer(spec, session.profile, padding_side=padding_side)
        return load_decoding_lm(spec, session.profile, tokenizer), tokenizer
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.padding_side = padding_side
    base = load_decoding_lm(spec, session.profile, tokenizer)  # fp16 where the registry says so, before the adapter
    with library_warnings_silenced():
        model = PeftModel.from_pretrained(base, str(folder))
    merge_token_rows(model)
    # the adapter's tokenizer decides the stops (its end-of-turn token); nothing else is inherited
    model.generation_config = neutral_generation_config(spec, tokenizer)
    model.eval()
    return model, tokenizer


def merge_token_rows(model) -> int:
    """Write the adapter's trained chat-token rows into the embedding (and tied LM head) and unwrap them.

    For inference only: the LoRA layers stay, but the embedding is a plain module again, which
    ``tie_weights`` (lm-eval calls it) and every generation path expect. The rows are unquantized in
    every load mode, so nothing is lost. Returns how many wrappers were merged."""
    from peft.utils.other import TrainableTokensWrapper

    wrapped = [(name, m) for name, m in model.named_modules() if isinstance(m, TrainableTokensWrapper)]
    for name, module in wrapped:
        parent_name, attribute = name.rsplit(".", 1)
        plain = module.unload_and_optionally_merge_module(merge=True, safe_merge=False, adapter_names=None)
        setattr(model.get_submodule(parent_name), attribute, plain)
    return len(wrapped)
