"""What SFT and DPO share: settings, trainer arguments, resume, out-of-memory retry, and the saved stage.

* Settings: the profile's ``training`` section (shared keys) merged with its ``sft`` / ``dpo``
  subsection; a batch size of ``null`` means the model's T4 numbers from the registry, and so does a
  ``gradient_checkpointing`` of ``null`` (:func:`for_model`).
* Resume: checkpoints go to ``models/<slug>/<stage>/checkpoints/`` every ``save_steps`` optimizer
  steps (at most ``save_total_limit`` kept). A rerun resumes from the newest complete one (its
  trainer state, weights, optimizer and scheduler files present and readable); newer incomplete
  ones are named, left on disk and recorded in the manifest. A stage whose
  ``manifest.json`` matches the current fingerprint is finished and is not trained again. A folder
  trained with another fingerprint is refused, never mixed.
* Out of memory: the per-device batch is halved and gradient accumulation doubled, so the
  effective batch (and the optimizer-step count the checkpoints are numbered by) stays the same;
  training then resumes from the newest checkpoint.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, ModelSpec, resolve_settings
from ..inference.engine import is_oom
from ..models import release_memory
from ..noise import library_warnings_silenced
from ..progress import draws_bars, library_bars
from ..store import read_json, write_json_atomic
from ..workspace import TRAINING_STAGES

if TYPE_CHECKING:
    from ..session import Session

SHARED_KEYS = ("heldout", "train_chat_tokens", "gradient_checkpointing", "optim", "group_by_length",
               "logging_steps", "save_steps", "save_total_limit", "report_to")
CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"  # the fingerprint of the run the checkpoints belong to
_POSITIVE = ("epochs", "logging_steps", "save_steps", "save_total_limit", "max_length")
# Settings that change how fast a stage trains, not the adapter it writes: a finished or checkpointed stage made
# with another value is the same stage (activation checkpointing recomputes the very activations it dropped).
SPEED_ONLY = ("gradient_checkpointing",)


def stage_settings(session: Session, stage: str, overrides: dict | None = None) -> dict:
    """``training.<shared>`` + ``training.<stage>`` + ``overrides`` (None values ignored), validated."""
    if stage not in TRAINING_STAGES:
        raise ConfigError(f"unknown training stage '{stage}' (known: {', '.join(TRAINING_STAGES)})")
    cfg = shared_and_stage(session.section("training"), stage, overrides)
    for key in _POSITIVE:
        if key in cfg and (not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] <= 0):
            raise ConfigError(f"training.{stage}.{key} must be a whole number > 0, got {cfg[key]!r}")
    if cfg["report_to"] not in ("none", "wandb", "tensorboard"):
        raise ConfigError(f"training.report_to must be none, wandb or tensorboard, got {cfg['report_to']!r}")
    return cfg


def shared_and_stage(training: dict, stage: str, overrides: dict | None = None) -> dict:
    """A stage's settings from a profile's ``training`` section: the shared keys, the stage's own over them."""
    return resolve_settings(stage, {key: training[key] for key in SHARED_KEYS}, training[stage], overrides=overrides)


def for_model(cfg: dict, spec: ModelSpec) -> dict:
    """``cfg`` with what it leaves to the model (null) filled in from the registry: ``gradient_checkpointing`` is the
    model's ``t4.gradient_checkpointing`` (on where the registry does not say). The manifest records the result."""
    if cfg.get("gradient_checkpointing") is None:
        cfg = {**cfg, "gradient_checkpointing": bool(spec.t4.get("gradient_checkpointing", True))}
    return cfg


def batch_plan(spec: ModelSpec, cfg: dict) -> tuple[int, int]:
    """(per-device batch, gradient accumulation): the settings', else the model's T4 numbers."""
    batch = cfg.get("batch_size") or spec.t4.get("train_batch_size")
    accum = cfg.get("grad_accum") or spec.t4.get("grad_accum") or 1
    if not batch:
        raise ConfigError(f"model '{spec.id}': no training batch size (set training.*.batch_size or the "
                          "registry's t4.train_batch_size)")
    return int(batch), int(accum)


def trainer_draws_progress(progress: bool) -> bool:
    """Whether the Trainer shows its progress. In a notebook it draws an HTML table of the losses (no widgets
    needed, so also under papermill); elsewhere a tqdm bar, which only draws where bars redraw in place."""
    from transformers.trainer import DEFAULT_PROGRESS_CALLBACK
    from transformers.utils.notebook import NotebookProgressCallback

    return bool(progress) and (DEFAULT_PROGRESS_CALLBACK is NotebookProgressCallback or draws_bars(progress))


def trainer_arguments(config_class, session: Session, cfg: dict, output_dir: Path, batch: int, accum: int,
                      *, progress: bool, length_grouping: bool = True, **extra):
    """TRL's SFTConfig/DPOConfig for this profile: explicit fp16 on a T4 (TRL would pick bf16).

    ``length_grouping`` False: random batches whatever the settings say (transformers' length-grouped
    sampler reads ``input_ids``, which a DPO dataset does not have before the trainer tokenizes it)."""
    profile = session.profile
    on_cuda = profile.get("device") == "cuda"
    return config_class(
        output_dir=str(output_dir),
        num_train_epochs=cfg["epochs"],
        learning_rate=float(cfg["learning_rate"]),
        lr_scheduler_type=cfg["lr_scheduler"],
        warmup_steps=float(cfg["warmup_ratio"]),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        # transformers 5 renamed it; TRL still defaults the old name to True, so only the new name, set, keeps
        # transformers from warning (FutureWarning) that the old one is deprecated. It mirrors the old name.
        activation_checkpointing=bool(cfg["gradient_checkpointing"]),
        optim=cfg["optim"],
        fp16=on_cuda and profile.get("dtype") == "float16",
        bf16=on_cuda and profile.get("dtype") == "bfloat16",
        use_cpu=not on_cuda,
        train_sampling_strategy="group_by_length" if cfg["group_by_length"] and length_grouping else "random",
        logging_steps=cfg["logging_steps"],
        save_strategy="steps",
        save_steps=cfg["save_steps"],
        save_total_limit=cfg["save_total_limit"],
        report_to=[] if cfg["report_to"] == "none" else [cfg["report_to"]],
        seed=session.seed,
        data_seed=session.seed,
        max_length=cfg["max_length"],
        disable_tqdm=not trainer_draws_progress(progress),
        # transformers would log a NaN/inf step as the window's average so far (0 when every step is NaN),
        # hiding it from the check below (NonFiniteLossCheck)
        logging_nan_inf_filter=False,
        dataloader_num_workers=0,
        **extra,
    )


# --------------------------------------------------------------------------- resume


def check_fingerprint(folder: Path, fingerprint: dict) -> bool:
    """True when the stage in ``folder`` is finished with this fingerprint; refuses a foreign one.
    Speed-only settings (:data:`SPEED_ONLY`) are not compared."""
    fresh = f"To start over, delete {folder} (or use another workspace)."
    for name in ("manifest.json", f"{CHECKPOINTS}/{RUN_FILE}"):
        path = folder / name
        if not path.exists():
            continue
        stored = read_json(path).get("fingerprint") or {}
        if _without_speed(stored) != _without_speed(fingerprint):
            changes = ", ".join(f"{k}: {stored.get(k)!r} -> {v!r}" for k, v in fingerprint.items()
                                if stored.get(k) != v)
            raise ConfigError(f"{path.parent if name != 'manifest.json' else folder} was trained with other "
                              f"settings ({changes}). Refusing to mix them. {fresh}")
        if name == "manifest.json":
            return True
    return False


def _without_speed(fingerprint: dict) -> dict:
    config = fingerprint.get("config")
    if not isinstance(config, dict):
        return fingerprint
    return {**fingerprint, "config": {k: v for k, v in config.items() if k not in SPEED_ONLY}}


# What a checkpoint needs to resume: without the optimizer and scheduler files transformers would
# silently restart them. One of the weight files: PEFT's adapter or a full model.
REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHTS = ("adapter_model.safetensors", "model.safetensors")


def checkpoint_problem(path: Path) -> str:
    """Why the checkpoint folder cannot be resumed from ('' when it is complete): a file missing or unreadable.

    transformers writes ``checkpoint-N`` in place, so a runtime that dies mid-save (or a Drive that has
    not synced) leaves a folder that looks like the newest checkpoint and fails every resume."""
    import json

    import torch
    from safetensors.torch import load_file
    from transformers.trainer_pt_utils import safe_globals

    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if not any((path / name).is_file() for name in WEIGHTS):
        missing.append(" or ".join(WEIGHTS))
    if missing:
        return f"missing {', '.join(missing)}"
    for file in sorted(path.iterdir()):
        try:
            if file.suffix == ".json":
                json.loads(file.read_text(encoding="utf-8"))
            elif file.suffix == ".safetensors":
                load_file(str(file))
            elif file.suffix in (".pt", ".pth"):
                with safe_globals():  # what the trainer allows itself (numpy's RNG state)
                    torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure to read means "do not resume from here"
            return f"{file.name} is unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    return ""


def checkpoints_newest_first(folder: Path) -> list[Path]:
    root = folder / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    return sorted(found, key=checkpoint_step, reverse=True)


def last_checkpoint(folder: Path, skipped: list[dict] | None = None) -> str | None:
    """The newest complete checkpoint; the incomplete ones newer than it are appended to ``skipped``."""
    for path in checkpoints_newest_first(folder):
        problem = checkpoint_problem(path)
        if not problem:
            return str(path)
        if skipped is not None and path.name not in {s["checkpoint"] for s in skipped}:
            skipped.append({"checkpoint": path.name, "problem": problem})
    return None


def checkpoint_step(path: str | Path | None) -> int:
    return int(Path(path).name.split("-")[-1]) if path else 0


# --------------------------------------------------------------------------- the run


class NonFiniteLoss(RuntimeError):
    """A training loss turned NaN/inf: the stage fails rather than "finishing" with broken weights."""


def non_finite_loss_check(model: str, stage: str):
    """A trainer callback that raises :class:`NonFiniteLoss` at the first logged NaN/inf loss (before the
    checkpoint of that step is saved), naming the model, the stage and the step."""
    import math

    from transformers import TrainerCallback

    class NonFiniteLossCheck(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in ("loss", "train_loss"):
                value = (logs or {}).get(key)
                if isinstance(value, int | float) and not math.isfinite(value):
                    raise NonFiniteLoss(
                        f"{model}: the {stage.upper()} loss is {value} at step {state.global_step} (NaN/inf: an fp16 "
                        f"overflow, or a learning rate too high). The stage is not saved; checkpoints written before "
                        f"step {state.global_step} are kept. Lower training.{stage}.learning_rate, or check the data "
                        "and the model's dtype, then run again.")

    return NonFiniteLossCheck()


@dataclass
class FitOutcome:
    trainer: object
    resumed_from_step: int
    oom_retries: int
    batch_size: int
    grad_accum: int
    seconds: float
    attempts: list[dict] = field(default_factory=list)
    skipped_checkpoints: list[dict] = field(default_factory=list)  # incomplete ones, newest first


def fit(build_trainer: Callable[[int, int], object], folder: Path, fingerprint: dict, batch: int, accum: int,
        *, verbose: bool = True) -> FitOutcome:
    """Train to the end: resume from the newest checkpoint; on out-of-memory halve the batch and go on."""
    write_json_atomic(folder / CHECKPOINTS / RUN_FILE, {"fingerprint": fingerprint})
    started = time.perf_counter()
    skipped: list[dict] = []
    first_resume = checkpoint_step(last_checkpoint(folder, skipped))
    attempts, retries, told = [], 0, 0
    while True:
        resume = last_checkpoint(folder, skipped)
        for bad in skipped[told:]:  # said even when quiet: the run goes back further than the user expects
            print(f"{bad['checkpoint']} is incomplete ({bad['problem']}), so it is not resumed from: "
                  f"{'resuming from ' + Path(resume).name if resume else 'starting from step 0'}", flush=True)
        told = len(skipped)
        attempts.append({"batch_size": batch, "grad_accum": accum, "resumed_from_step": checkpoint_step(resume)})
        if verbose and resume:
            print(f"resuming from {Path(resume).name} (batch {batch} x accumulation {accum})", flush=True)
        with library_bars(verbose), library_warnings_silenced():  # loading the model, tokenizing the data
            trainer = build_trainer(batch, accum)
        trainer.add_callback(non_finite_loss_check(fingerprint.get("model", "the model"),
                                                   fingerprint.get("stage", "training")))
        if not verbose:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # no per-step log lines
        try:
            with library_warnings_silenced():
                trainer.train(resume_from_checkpoint=resume)
            return FitOutcome(trainer, first_resume, retries, batch, accum, time.perf_counter() - started, attempts,
                              skipped)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, everything else re-raised
            if not is_oom(exc) or batch == 1:
                raise
        del trainer
        release_memory()
        retries += 1
        batch, accum = batch // 2, accum * 2
        if verbose:
            print(f"out of memory: per-device batch -> {batch}, gradient accumulation -> {accum} "
                  "(same effective batch); resuming from the last checkpoint", flush=True)
