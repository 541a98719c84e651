"""Tables and charts for notebooks 04 and 05: run summaries, settings, curves, the loss mask, held-out answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..session import Session


def run_summary(result) -> object:
    """One row: what was trained, for how long, and how it ended."""
    import pandas as pd

    manifest = result.manifest
    summary = manifest.get("training", {})
    counts = manifest.get("counts", {})
    row = {"model": result.model, "stage": result.stage, "trained now": result.trained, **counts,
           "batch x accum": f"{summary.get('batch_size')} x {summary.get('grad_accum')}",
           "resumed from step": summary.get("resumed_from_step"), "OOM retries": summary.get("oom_retries"),
           "final loss": summary.get("final_loss"), "seconds": summary.get("train_seconds"),
           "trainable dtypes": ", ".join(manifest.get("trainable_dtypes", []))}
    return pd.DataFrame([row])


SEED_PROFILE = "colab_t4"  # the project's reference recipe: the seed's settings for a free T4
NOT_RECORDED = "not recorded"


def settings_table(session: Session, result):
    """The SFTConfig/DPOConfig and LoraConfig values this stage was trained with (from its manifest), and how
    the base weights were loaded, beside the seed's values (the colab_t4 profile with the model's T4 batch)."""
    import pandas as pd

    from ..config import load_profile

    spec = session.registry.get(result.model)
    seed = seed_settings(load_profile(SEED_PROFILE), result.stage, spec)
    manifest = result.manifest
    used = {"trainer_args": manifest.get("trainer_args", {}), "lora": manifest.get("lora", {}),
            "base": {"weights": _weights(manifest["quantization"]) if "quantization" in manifest else NOT_RECORDED}}
    groups = {"trainer_args": "DPOConfig" if result.stage == "dpo" else "SFTConfig", "lora": "LoraConfig",
              "base": "base model"}
    rows = [{"config": groups[group], "field": name, "this run": _show(used[group].get(name, NOT_RECORDED)),
             f"seed ({SEED_PROFILE})": _show(value)}
            for group, fields in seed.items() for name, value in fields.items()
            if value is not None or name in used[group]]
    return pd.DataFrame(rows, columns=["config", "field", "this run", f"seed ({SEED_PROFILE})"])


def seed_settings(profile: dict, stage: str, spec) -> dict[str, dict]:
    """What ``trainer_arguments`` and ``lora_config`` build from ``profile`` for ``spec``, by field name."""
    from .fit import for_model, shared_and_stage

    training = profile["training"]
    cfg = for_model(shared_and_stage(training, stage), spec)
    sft = training["sft"]  # DPO trains the SFT adapter further: its LoRA settings are SFT's
    on_cuda = profile.get("device") == "cuda"
    args = {"num_train_epochs": cfg["epochs"], "learning_rate": cfg["learning_rate"],
            "lr_scheduler_type": cfg["lr_scheduler"], "warmup_steps": cfg["warmup_ratio"],
            "per_device_train_batch_size": cfg.get("batch_size") or spec.t4.get("train_batch_size"),
            "gradient_accumulation_steps": cfg.get("grad_accum") or spec.t4.get("grad_accum") or 1,
            "optim": cfg["optim"], "fp16": on_cuda and profile.get("dtype") == "float16",
            "bf16": on_cuda and profile.get("dtype") == "bfloat16",
            "gradient_checkpointing": cfg["gradient_checkpointing"], "max_length": cfg["max_length"],
            "beta": cfg.get("beta"), "logging_steps": cfg["logging_steps"], "save_steps": cfg["save_steps"],
            "seed": profile["seed"]}
    lora = {"r": sft["lora_r"], "lora_alpha": sft["lora_alpha"], "lora_dropout": sft["lora_dropout"],
            "target_modules": sorted(sft.get("lora_targets") or spec.lora_targets),
            "trainable_token_indices": "the chat template's special tokens" if cfg["train_chat_tokens"] else None}
    nf4 = profile.get("quantize") and spec.load == "nf4"
    weights = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
               "bnb_4bit_compute_dtype": profile.get("dtype")} if nf4 else None
    return {"trainer_args": args, "lora": lora, "base": {"weights": _weights(weights)}}


def _weights(quantization: dict | None) -> str:
    if not quantization:
        return "not quantized"
    double = ", double quantization" if quantization.get("bnb_4bit_use_double_quant") else ""
    return (f"4-bit {quantization.get('bnb_4bit_quant_type')}{double}, "
            f"compute {quantization.get('bnb_4bit_compute_dtype')}")


def _show(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}: {len(ids)} rows" if isinstance(ids, list) else f"{key}: {ids}"
                         for key, ids in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def curves(result) -> list[Path]:
    """The PNG curves of a finished stage (loss; for DPO also rewards, margins, accuracy)."""
    from IPython.display import Image, display

    paths = sorted(Path(result.path).glob("*.png"))
    for path in paths:
        display(Image(filename=str(path)))
    return paths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def loss_mask_table(session: Session, model_name: str, index: int = 0):
    """One training conversation cut into the pieces the loss sees (``trained``) and the ones it ignores."""
    import pandas as pd

    from ..models import load_tokenizer
    from .chat import encode_chat
    from .data import sft_conversations

    spec = session.model(model_name, role="target")
    tokenizer = load_tokenizer(spec, session.profile, padding_side="right")
    records, _ = sft_conversations(session)
    encoded = encode_chat(tokenizer, records[index]["messages"], spec.eot_token)
    pieces, current, ids = [], None, []
    for token_id, trained in [*zip(encoded.input_ids, encoded.completion_mask, strict=True), (None, None)]:
        if trained != current and ids:
            pieces.append({"trained": bool(current), "tokens": len(ids),
                           "text": _clip(tokenizer.decode(ids), 300)})
            ids = []
        current = trained
        if token_id is not None:
            ids.append(token_id)
    return pd.DataFrame(pieces)


def answers_table(records: list[dict], n: int = 5, width: int = 220):
    """Held-out answers with how they ended (end-of-turn token, or the length limit)."""
    import pandas as pd

    stopped = sum(bool(r.get("ended_with_eot")) for r in records)
    print(f"{stopped} of {len(records)} answers ended with the end-of-turn token")
    return pd.DataFrame([{"instruction": _clip(r["instruction"], 90), "answer": _clip(r["response"], width),
                          "ended with end-of-turn": bool(r.get("ended_with_eot"))} for r in records[:n]])
