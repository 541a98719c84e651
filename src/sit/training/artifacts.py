"""A finished training stage on disk: adapter, tokenizer, generation config, logs, curves, manifest.

``models/<slug>/<stage>/`` holds what ``AutoPeftModelForCausalLM.from_pretrained`` needs (adapter
config and weights, with the trained chat-token rows), the tokenizer with its chat template, a
``generation_config.json`` that stops at the template's end-of-turn token and pads with the
registry's pad token, ``log_history.json`` / ``.csv``, the curves as PNG, and ``manifest.json``
(written last: its presence means the stage is complete).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..charts import mark_toy
from ..config import ModelSpec
from ..manifest import write_manifest
from ..store import read_json, write_json_atomic, write_text_atomic
from .fit import check_fingerprint

if TYPE_CHECKING:
    from ..session import Session

# The SFTConfig/DPOConfig and LoraConfig fields the manifest records as the run used them (a student defends these).
TRAINER_ARGS = ("num_train_epochs", "learning_rate", "lr_scheduler_type", "warmup_steps", "per_device_train_batch_size",
                "gradient_accumulation_steps", "optim", "fp16", "bf16", "gradient_checkpointing", "max_length", "beta",
                "logging_steps", "save_steps", "seed")
LORA_ARGS = ("r", "lora_alpha", "lora_dropout", "target_modules", "trainable_token_indices")
QUANTIZATION_ARGS = ("load_in_4bit", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
LOG_JSON = "log_history.json"
LOG_CSV = "log_history.csv"
# Curves per stage: file name -> the log keys drawn in it.
CURVES = {
    "sft": {"loss.png": ("loss",)},
    "dpo": {"loss.png": ("loss",), "rewards.png": ("rewards/chosen", "rewards/rejected"),
            "margins.png": ("rewards/margins",), "accuracy.png": ("rewards/accuracies",)},
}


@dataclass
class StageResult:
    """A finished stage: where it is and what its manifest says (``trained`` False when it was already done)."""

    model: str
    stage: str
    path: Path
    trained: bool
    manifest: dict

    @property
    def summary(self) -> dict:
        return self.manifest.get("training", {})

    @classmethod
    def read(cls, folder: Path, model: str, stage: str, *, trained: bool) -> StageResult:
        return cls(model, stage, folder, trained, read_json(folder / "manifest.json"))


def finished(folder: Path, fingerprint: dict, model: str, stage: str, *, progress: bool) -> StageResult | None:
    """The stage in ``folder`` when it is complete with this fingerprint (refuses a foreign one), else None."""
    if not check_fingerprint(folder, fingerprint):
        return None
    if progress:
        print(f"{stage.upper()} of {model} is already complete in {folder}")
    return StageResult.read(folder, model, stage, trained=False)


def generation_config(spec: ModelSpec, tokenizer):
    """Stop at the end-of-turn token (and plain eos), pad with the registry's pad token."""
    from transformers import GenerationConfig

    stops = [tokenizer.convert_tokens_to_ids(spec.eot_token)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stops:
        stops.append(tokenizer.eos_token_id)
    return GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=stops,
                            pad_token_id=tokenizer.pad_token_id, do_sample=False)


def save_model_files(folder: Path, model, tokenizer, spec: ModelSpec) -> None:
    model.save_pretrained(str(folder), selected_adapters=["default"], safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    generation_config(spec, tokenizer).save_pretrained(str(folder))


def save_logs(folder: Path, stage: str, log_history: list[dict], *, model: str = "",
              world_id: str | None = None) -> dict[str, Path]:
    """The trainer's log history as JSON and CSV, and the stage's curves as PNG, titled with model and stage."""
    write_json_atomic(folder / LOG_JSON, log_history)
    keys = sorted({k for row in log_history for k in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(log_history)
    write_text_atomic(folder / LOG_CSV, buffer.getvalue())
    title = " · ".join(p for p in (model.split("/")[-1], f"{stage.upper()} training") if p)
    return {name: plot_curve(folder / name, log_history, keys, title=title, world_id=world_id)
            for name, keys in CURVES[stage].items()}


def plot_curve(path: Path, log_history: list[dict], keys: tuple[str, ...], *, title: str = "",
               world_id: str | None = None) -> Path:
    """Save :func:`curve_figure` as PNG at ``path`` (atomically)."""
    fig = curve_figure(log_history, keys, f"{title}: {path.stem}" if title else path.stem, world_id=world_id)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path


def curve_figure(log_history: list[dict], keys: tuple[str, ...], title: str, *, world_id: str | None = None):
    """Logged values per optimizer step. A bare Figure, not pyplot: saving it leaves the notebook's backend
    (and every chart drawn after it) alone."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    for key in keys:
        points = [(row["step"], row[key]) for row in log_history if key in row and "step" in row]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".", label=key)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(keys[0] if len(keys) == 1 else keys[0].split("/")[0])
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def effective_settings(trainer, model) -> dict:
    """What the trainer and the adapter were actually built with (after overrides, the registry's batch and any
    out-of-memory halving), as plain JSON."""
    args = trainer.args.to_dict()
    lora = model.peft_config["default"].to_dict()
    quantization = getattr(model.config, "quantization_config", None)
    if quantization is not None and not isinstance(quantization, dict):
        quantization = quantization.to_dict()
    return {"trainer_args": {k: args[k] for k in TRAINER_ARGS if k in args},
            "lora": {k: sorted(v) if isinstance(v, set) else v for k, v in lora.items() if k in LORA_ARGS},
            "quantization": {k: str(quantization[k]) if k.endswith("dtype") else quantization[k]
                             for k in QUANTIZATION_ARGS if k in quantization} if quantization else None}


def final_loss(log_history: list[dict]) -> float | None:
    losses = [row["loss"] for row in log_history if "loss" in row]
    return losses[-1] if losses else None


def finish_stage(folder: Path, *, session: Session, stage: str, model, tokenizer, spec: ModelSpec, cfg: dict,
                 fingerprint: dict, outcome, counts: dict, started_at: str, extra: dict | None = None) -> dict:
    """Write everything, the manifest last; under data parallel only the main process writes."""
    trainer = outcome.trainer
    if not trainer.accelerator.is_main_process:
        trainer.accelerator.wait_for_everyone()
        return {}
    save_model_files(folder, model, tokenizer, spec)
    history = list(trainer.state.log_history)
    save_logs(folder, stage, history, model=spec.id, world_id=session.world_id)
    summary = {"global_steps": trainer.state.global_step, "final_loss": final_loss(history),
               "resumed_from_step": outcome.resumed_from_step, "oom_retries": outcome.oom_retries,
               "batch_size": outcome.batch_size, "grad_accum": outcome.grad_accum,
               "train_seconds": round(outcome.seconds, 2), "skipped_checkpoints": outcome.skipped_checkpoints}
    write_manifest(folder, phase=f"0{4 if stage == 'sft' else 5}_{stage}_training", profile=session.profile_name,
                   config=cfg, seed=session.seed, counts={**counts, "steps": trainer.state.global_step},
                   started_at=started_at,
                   extra={"fingerprint": fingerprint, "model": spec.id, "world": session.world_id,
                          "training": summary, **effective_settings(trainer, model), **(extra or {})})
    trainer.accelerator.wait_for_everyone()
    return summary
