"""Phase 5: DPO of one target model, starting from its SFT adapter, on the preference pairs; resumable.

The policy is the SFT adapter, trained further. The reference is the SFT policy frozen: given a
model that already carries an adapter and no new LoRA config, TRL copies that adapter into a frozen
``ref`` adapter and computes the reference log-probabilities with it, so no second copy of the base
model is loaded (it would not fit beside a 7B policy on a T4). Only the ``default`` adapter is saved.

TRL copies only parameters whose names contain ``.default.``; PEFT's trained chat-token rows are
named ``...trainable_tokens_delta.default`` and would stay the base model's rows in ``ref`` (and TRL
rounds a quantized model's adapter to bf16). So once the trainer is built, :func:`start_from_sft`
writes the SFT adapter's own weights into every ``default`` parameter and its ``ref`` twin: policy
and reference start equal, and the first step's implicit rewards are 0 and its loss ln 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..manifest import now
from ..stages import require_stage
from ..store import read_json
from .artifacts import StageResult, finish_stage, finished
from .data import data_digest, dpo_pairs
from .fit import CHECKPOINTS, batch_plan, fit, for_model, stage_settings, trainer_arguments
from .model import expose_lm_head_bias, load_base_for_training, ready_to_train, trainable_dtypes

if TYPE_CHECKING:
    from ..session import Session

POLICY, REFERENCE = "default", "ref"


def twin_name(name: str, adapter: str) -> str:
    """The same parameter in another adapter (``...lora_A.default.weight`` -> ``...lora_A.ref.weight``)."""
    return ".".join(adapter if part == POLICY else part for part in name.split("."))


def adapter_weights(model) -> dict:
    """fp32 CPU copies of every parameter of the ``default`` adapter (LoRA, token rows, saved modules)."""
    import torch

    return {name: p.detach().to("cpu", torch.float32, copy=True)
            for name, p in model.named_parameters() if POLICY in name.split(".")}


def start_from_sft(model, weights: dict) -> int:
    """Write the SFT adapter's weights into the policy and the frozen reference; returns the tensors set.

    Raises when a parameter has no reference twin or the reference has a parameter the SFT adapter
    lacks: the reference would then not be the SFT model."""
    import torch

    params = dict(model.named_parameters())
    reference = {name for name in params if REFERENCE in name.split(".")}
    missing = [twin_name(name, REFERENCE) for name in weights if twin_name(name, REFERENCE) not in params]
    extra = reference - {twin_name(name, REFERENCE) for name in weights}
    if missing or extra:
        raise RuntimeError(f"the DPO reference adapter does not mirror the SFT adapter (no reference twin for "
                           f"{missing[:3]}, reference parameters without an SFT twin {sorted(extra)[:3]})")
    with torch.no_grad():
        for name, value in weights.items():
            for target in (name, twin_name(name, REFERENCE)):
                params[target].copy_(value)
    return len(weights)


def dpo_fingerprint(session: Session, spec, cfg: dict, pairs: list[dict], sft_manifest: dict) -> dict:
    return {"model": spec.id, "world": session.world_id, "seed": session.seed, "stage": "dpo", "config": cfg,
            "data": data_digest(pairs, ("id", "prompt", "chosen", "rejected")),
            "sft": data_digest([sft_manifest.get("fingerprint") or {}], ("data", "config"))}


def train_dpo(session: Session, model_name: str, *, progress: bool = True, trainer_hook=None, **overrides) -> StageResult:
    """Train (or resume, or skip when finished) the DPO adapter of one target model from its SFT adapter."""
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    started = now()
    spec = session.model(model_name, role="target")
    cfg = for_model(stage_settings(session, "dpo", overrides), spec)
    sft_dir = require_stage(session, model_name, "sft")
    sft_manifest = read_json(sft_dir / "manifest.json")
    pairs, heldout = dpo_pairs(session)
    fingerprint = dpo_fingerprint(session, spec, cfg, pairs, sft_manifest)
    folder = session.workspace.adapter_dir(spec.slug, "dpo")
    done = finished(folder, fingerprint, spec.id, "dpo", progress=progress)
    if done:
        return done
    tokenizer = AutoTokenizer.from_pretrained(str(sft_dir))
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])

    def build_trainer(batch: int, accum: int):
        base = load_base_for_training(spec, session.profile, gradient_checkpointing=cfg["gradient_checkpointing"])
        model = PeftModel.from_pretrained(base, str(sft_dir), is_trainable=True)
        expose_lm_head_bias(model)
        sft_weights = adapter_weights(model)
        args = trainer_arguments(DPOConfig, session, cfg, folder / CHECKPOINTS, batch, accum, progress=progress,
                                 length_grouping=False, beta=float(cfg["beta"]))
        trainer = ready_to_train(DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer))
        start_from_sft(trainer.model, sft_weights)  # after the fp32 re-cast, so nothing rounds them again
        if trainer_hook is not None:
            trainer_hook(trainer)
        return trainer

    batch, accum = batch_plan(spec, cfg)
    if progress:
        print(f"DPO {spec.id}: {len(pairs)} pairs ({len(heldout)} instructions held out), beta {cfg['beta']}, "
              f"batch {batch} x accumulation {accum}, {cfg['epochs']} epochs, reference = the frozen SFT adapter",
              flush=True)
    outcome = fit(build_trainer, folder, fingerprint, batch, accum, verbose=progress)
    finish_stage(folder, session=session, stage="dpo", model=outcome.trainer.model, tokenizer=tokenizer, spec=spec,
                 cfg=cfg, fingerprint=fingerprint, outcome=outcome, started_at=started,
                 counts={"pairs": len(pairs), "heldout": len(heldout)},
                 extra={"reference": "frozen copy of the SFT adapter", "sft_adapter": str(sft_dir),
                        "trainable_dtypes": sorted(trainable_dtypes(outcome.trainer.model))})
    return StageResult.read(folder, spec.id, "dpo", trained=True)
