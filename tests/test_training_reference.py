"""DPO's reference is the SFT model: every ``ref`` parameter (LoRA and the trained chat-token rows) equals
its ``default`` twin before the first step, so the first logged step has implicit rewards of 0 and a
loss of ln 2, for every toy target."""

import math

import pytest
import torch
from test_training import LLAMA, MISTRAL, QWEN, session_for, write_inputs
from trl.trainer.utils import use_adapter

from sit.store import read_json
from sit.training import train_dpo, train_sft

# Two SFT steps (the first has a learning rate of 0, warm-up), then one logged DPO step: 8 pairs, 4 held out.
TINY = {"training.heldout": 4, "training.logging_steps": 1, "training.sft.epochs": 2, "training.sft.batch_size": 4,
        "training.dpo.epochs": 1, "training.dpo.batch_size": 4}


@pytest.fixture(scope="module")
def sft_session(tmp_path_factory, toy_world):
    workspace = tmp_path_factory.mktemp("reference")
    write_inputs(workspace, 8)
    return session_for(workspace, **TINY)


def twins(model) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, default, ref) for every parameter of the ``default`` adapter, matched by name component."""
    params = dict(model.named_parameters())
    pairs = []
    for name, param in params.items():
        parts = name.split(".")
        if "default" in parts:
            twin = ".".join("ref" if p == "default" else p for p in parts)
            pairs.append((name, param, params.get(twin)))
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize("model", [LLAMA, MISTRAL, QWEN])
def test_the_first_dpo_step_sees_a_reference_equal_to_the_policy(sft_session, model):
    train_sft(sft_session, model, progress=False)
    seen = {}

    def inspect(trainer):
        peft_model = trainer.model
        pairs = twins(peft_model)
        seen["token_rows"] = [n for n, _, _ in pairs if "trainable_tokens_delta" in n]
        seen["missing"] = [n for n, _, ref in pairs if ref is None]
        seen["differ"] = [n for n, d, ref in pairs if ref is not None and not torch.equal(d, ref)]
        seen["ref_frozen"] = not any(p.requires_grad for n, p in peft_model.named_parameters()
                                     if "ref" in n.split("."))
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        peft_model.eval()
        with torch.no_grad():
            policy = peft_model(**inputs).logits
            with use_adapter(peft_model, "ref"):
                reference = peft_model(**inputs).logits
            with use_adapter(peft_model, None):
                base = peft_model(**inputs).logits
        peft_model.train()
        seen["ref_vs_policy"] = float((policy - reference).abs().max())
        seen["base_vs_policy"] = float((policy - base).abs().max())

    result = train_dpo(sft_session, model, progress=False, trainer_hook=inspect)
    assert seen["token_rows"], f"{model}: no trained chat-token rows in the SFT adapter"
    assert seen["missing"] == [] and seen["differ"] == [] and seen["ref_frozen"]
    assert seen["ref_vs_policy"] < 1e-4 < seen["base_vs_policy"]  # the batch does see the adapter

    first = next(row for row in read_json(result.path / "log_history.json") if "rewards/chosen" in row)
    assert first["step"] == 1
    assert abs(first["rewards/chosen"]) < 0.1 and abs(first["rewards/rejected"]) < 0.1, first
    assert first["loss"] == pytest.approx(math.log(2), abs=0.05), first
