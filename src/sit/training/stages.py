"""A target model at one stage of its training (``base``, ``sft``, ``dpo``), as every later phase loads it.

``sft`` and ``dpo`` are the base model with the stage's adapter (the DPO adapter is the SFT adapter
trained further, so it is loaded alone). Their tokenizer and generation config come from the adapter
folder: the chat template, the pad token, and the end-of-turn token generation stops at. ``base`` is
the registry's base model with the same chat template installed on its tokenizer, so that every stage
answers the same prompt; a base model was never trained on that template, which is the point of
comparing it.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..models import from_pretrained, load_causal_lm, load_tokenizer, model_source
from ..store import read_json

STAGES = ("base", "sft", "dpo")
NOTEBOOK = {"sft": "04 (SFT)", "dpo": "05 (DPO)"}


def check_stage_name(stage: str) -> str:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return stage


def require_stage(session, model_name: str, stage: str) -> Path | None:
    """The adapter folder of a finished stage (None for ``base``); a clear error when it is missing or foreign."""
    check_stage_name(stage)
    spec = session.registry.get(model_name, role="target")
    if stage == "base":
        return None
    folder = session.workspace.root / "models" / spec.slug / stage
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


def load_stage(session, model_name: str, stage: str, *, padding_side: str = "left"):
    """(model, tokenizer) of one stage, in eval mode."""
    spec = session.model(model_name, role="target")
    folder = require_stage(session, model_name, stage)
    if folder is None:
        return load_causal_lm(spec, session.profile), load_tokenizer(spec, session.profile, padding_side=padding_side)
    from peft import PeftModel
    from transformers import AutoTokenizer, GenerationConfig

    base = load_causal_lm(spec, session.profile)
    model = PeftModel.from_pretrained(base, str(folder))
    merge_token_rows(model)
    model.generation_config = GenerationConfig.from_pretrained(str(folder))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.padding_side = padding_side
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


def export_merged(session, model_name: str, stage: str, out_dir: str | Path | None = None) -> Path:
    """The stage's adapter merged into an fp16 copy of the base model (for serving elsewhere).

    The base is loaded unquantized for this: merging into 4-bit weights would lose the adapter's precision."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    spec = session.model(model_name, role="target")
    folder = require_stage(session, model_name, stage)
    if folder is None:
        raise ConfigError("the base stage has no adapter to merge")
    out = Path(out_dir) if out_dir else folder.parent / f"{stage}-merged-fp16"
    base = from_pretrained(AutoModelForCausalLM.from_pretrained, spec, model_source(spec, session.profile),
                           dtype=torch.float16)
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
