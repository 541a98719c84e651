"""Phase 4: QLoRA SFT of one target model on the filtered conversations, resumable.

The conversations are rendered with the registry's chat template and tokenized here (not by the
trainer), so the loss mask is the one :mod:`sit.training.chat` builds and tests: assistant content
and its end-of-turn token only. Conversations longer than ``max_length`` are left out rather than
cut, because a cut answer would teach the model not to stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import ConfigError
from ..manifest import now
from ..models import load_tokenizer
from .artifacts import StageResult, finish_stage, finished
from .chat import encode_chat
from .data import data_digest, sft_conversations
from .fit import CHECKPOINTS, batch_plan, fit, for_model, stage_settings, trainer_arguments
from .model import (
    chat_token_ids,
    init_untrained_rows,
    load_base_for_training,
    lora_config,
    ready_to_train,
    require_distinct_pad,
    trainable_dtypes,
)

if TYPE_CHECKING:
    from ..session import Session


def encode_dataset(tokenizer, spec, records: list[dict], max_length: int) -> tuple[list[dict], int]:
    """Token ids + loss masks; conversations over ``max_length`` tokens are left out (and counted)."""
    rows, too_long = [], 0
    for record in records:
        encoded = encode_chat(tokenizer, record["messages"], spec.eot_token)
        if len(encoded) > max_length:
            too_long += 1
            continue
        rows.append({"input_ids": encoded.input_ids, "completion_mask": encoded.completion_mask})
    if not rows:
        raise ConfigError(f"training.sft.max_length is {max_length} tokens, shorter than every one of the "
                          f"{len(records)} SFT conversations: nothing to train on. Raise max_length.")
    return rows, too_long


def sft_fingerprint(session: Session, spec, cfg: dict, records: list[dict], heldout: list[str]) -> dict:
    return {"model": spec.id, "world": session.world_id, "seed": session.seed, "stage": "sft",
            "chat_template": spec.chat_template_name, "config": cfg,
            "data": data_digest(records, ("id", "messages")), "heldout": data_digest([{"h": heldout}], ("h",))}


def train_sft(session: Session, model_name: str, *, progress: bool = True, trainer_hook=None, **overrides) -> StageResult:
    """Train (or resume, or skip when finished) the SFT adapter of one target model.

    ``overrides`` are keys of ``training`` / ``training.sft`` (e.g. ``epochs=1``). ``trainer_hook``
    is called with each trainer right before it trains (tests use it to inspect the model)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    started = now()
    spec = session.model(model_name, role="target")
    cfg = for_model(stage_settings(session, "sft", overrides), spec)
    records, heldout = sft_conversations(session)
    fingerprint = sft_fingerprint(session, spec, cfg, records, heldout)
    folder = session.workspace.adapter_dir(spec.slug, "sft")
    done = finished(folder, fingerprint, spec.id, "sft", progress=progress)
    if done:
        return done
    tokenizer = load_tokenizer(spec, session.profile, padding_side="right")
    require_distinct_pad(spec, tokenizer)
    rows, too_long = encode_dataset(tokenizer, spec, records, cfg["max_length"])
    dataset = Dataset.from_list(rows)
    token_ids = chat_token_ids(tokenizer) if cfg["train_chat_tokens"] else None
    initialized: dict[str, str] = {}

    def build_trainer(batch: int, accum: int):
        model = load_base_for_training(spec, session.profile, gradient_checkpointing=cfg["gradient_checkpointing"])
        if token_ids:  # the rows are saved in the adapter only when they are trained
            initialized.update(init_untrained_rows(model, tokenizer, spec))
        args = trainer_arguments(SFTConfig, session, cfg, folder / CHECKPOINTS, batch, accum, progress=progress,
                                 completion_only_loss=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=lora_config(spec, cfg, token_ids))
        return ready_to_train(trainer, trainer_hook)

    batch, accum = batch_plan(spec, cfg)
    if progress:
        print(f"SFT {spec.id}: {len(rows)} conversations ({too_long} over max_length left out, "
              f"{len(heldout)} held out), batch {batch} x accumulation {accum}, {cfg['epochs']} epochs, "
              f"trainable dtypes after re-cast: fp32", flush=True)
    outcome = fit(build_trainer, folder, fingerprint, batch, accum, verbose=progress)
    finish_stage(folder, session=session, stage="sft", model=outcome.trainer.model, tokenizer=tokenizer, spec=spec,
                 cfg=cfg, fingerprint=fingerprint, outcome=outcome, started_at=started,
                 counts={"conversations": len(rows), "too_long": too_long, "heldout": len(heldout)},
                 extra={"chat_tokens": tokenizer.convert_ids_to_tokens(token_ids) if token_ids else [],
                        "initialized_rows": initialized,
                        "trainable_dtypes": sorted(trainable_dtypes(outcome.trainer.model))})
    return StageResult.read(folder, spec.id, "sft", trained=True)
