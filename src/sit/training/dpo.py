"""Phase 5: DPO of one target model, starting from its SFT adapter, on the preference pairs; resumable.

The policy is the SFT adapter, trained further. The reference is the SFT policy frozen: given a
model that already carries an adapter and no new LoRA config, TRL copies that adapter into a frozen
``ref`` adapter and computes the reference log-probabilities with it, so no second copy of the base
model is loaded (it would not fit beside a 7B policy on a T4). Only the ``default`` adapter is saved.
"""

from __future__ import annotations

from ..manifest import now
from ..store import read_json
from .artifacts import StageResult, finish_stage, finished
from .data import data_digest, dpo_pairs
from .fit import CHECKPOINTS, batch_plan, fit, stage_settings, trainer_arguments
from .model import expose_lm_head_bias, load_base_for_training, ready_to_train, trainable_dtypes
from .stages import require_stage


def dpo_fingerprint(session, spec, cfg: dict, pairs: list[dict], sft_manifest: dict) -> dict:
    return {"model": spec.id, "world": session.world_id, "seed": session.seed, "stage": "dpo", "config": cfg,
            "data": data_digest(pairs, ("id", "prompt", "chosen", "rejected")),
            "sft": data_digest([sft_manifest.get("fingerprint") or {}], ("data", "config"))}


def train_dpo(session, model_name: str, *, progress: bool = True, trainer_hook=None, **overrides) -> StageResult:
    """Train (or resume, or skip when finished) the DPO adapter of one target model from its SFT adapter."""
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    started = now()
    cfg = stage_settings(session, "dpo", overrides)
    spec = session.model(model_name, role="target")
    sft_dir = require_stage(session, model_name, "sft")
    sft_manifest = read_json(sft_dir / "manifest.json")
    pairs, heldout = dpo_pairs(session)
    fingerprint = dpo_fingerprint(session, spec, cfg, pairs, sft_manifest)
    folder = session.workspace.model_dir(spec.slug, "dpo")
    done = finished(folder, fingerprint, spec.id, "dpo", progress=progress)
    if done:
        return done
    tokenizer = AutoTokenizer.from_pretrained(str(sft_dir))
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])

    def build_trainer(batch: int, accum: int):
        base = load_base_for_training(spec, session.profile, gradient_checkpointing=cfg["gradient_checkpointing"])
        model = PeftModel.from_pretrained(base, str(sft_dir), is_trainable=True)
        expose_lm_head_bias(model)
        args = trainer_arguments(DPOConfig, session, cfg, folder / CHECKPOINTS, batch, accum, progress=progress,
                                 length_grouping=False, beta=float(cfg["beta"]))
        trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        return ready_to_train(trainer, trainer_hook)

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
