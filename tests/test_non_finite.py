"""NaN/inf never passes as a number: lm-eval's forward passes, reward scores, preference margins and training
losses. Each test injects NaN into a real toy model (a forward hook) or a score, and asserts that the result says
so, naming the model and stage, or refuses."""

import math
import re

import pytest
import torch
from test_training import LLAMA, SMALL, session_for, write_inputs

from sit.preference.pairs import Candidate, select_pairs
from sit.session import start

QWEN = "Qwen/Qwen2.5-3B"
NAN = float("nan")


def _nan_logits(module, inputs, output):
    return torch.full_like(output, NAN)


def test_lm_eval_on_nan_logits_warns_and_notes_the_model_and_stage(toy_world, tmp_path, monkeypatch):
    """MMLU with NaN logits would read as "always A"; the row's note and a warning say what happened instead."""
    from sit.evaluation import evaluate, run
    from sit.evaluation.results import read_table, results_path

    loaded = run.load_stage

    def stage_with_nan_logits(*args, **kwargs):
        model, tokenizer = loaded(*args, **kwargs)
        model.get_output_embeddings().register_forward_hook(_nan_logits)
        return model, tokenizer

    monkeypatch.setattr(run, "load_stage", stage_with_nan_logits)
    session = start("demo", str(tmp_path), verbose=False, overrides={"evaluation.mmlu.limit": 1})
    with pytest.warns(UserWarning, match=r"Qwen/Qwen2\.5-3B base, mmlu: non-finite logits \(NaN/inf\) in \d+ of "
                                         r"\d+ forward passes"):
        evaluate(session, QWEN, stages=["base"], benchmarks="mmlu", progress=False)
    [row] = [r for r in read_table(results_path(session)) if r["benchmark"] == "mmlu"]
    assert re.search(r"non-finite logits \(NaN/inf\) in \d+ of \d+ forward passes", row["note"]), row["note"]


def test_a_pair_with_a_non_finite_margin_is_refused_and_its_instruction_named():
    candidates = {"a": [Candidate("m1", "one", NAN), Candidate("m2", "two", 1.0)],
                  "b": [Candidate("m1", "one", 2.0), Candidate("m2", "two", -math.inf)],
                  "c": [Candidate("m1", "one", 2.0), Candidate("m2", "two", 1.0)]}
    instructions = [{"id": k, "instruction": k} for k in candidates]
    with pytest.warns(UserWarning, match=r"no pair for 2 instruction\(s\) with a non-finite reward score "
                                         r"\(NaN/inf\): a, b"):
        selection = select_pairs(instructions, candidates, min_margin=0.0, target_pairs=10)
    assert [p["id"] for p in selection.pairs] == ["c"] and selection.skipped["non_finite_score"] == 2


def test_held_out_rewards_leave_nan_scores_out_and_say_so(toy_world, tmp_path, monkeypatch):
    from sit.evaluation import stage_rewards
    from sit.training.data import heldout_ids

    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **SMALL)
    records = [{"id": i, "instruction": f"Say {i}.", "response": f"{i}.", "ended_with_eot": True,
                "gen": {"max_new_tokens": 8}} for i in heldout_ids(session)]
    loaded = stage_rewards.load_reward_model

    def reward_model_with_a_nan_row(*args, **kwargs):
        def first_row_nan(module, inputs, output):
            output.logits[0] = NAN
            return output

        model = loaded(*args, **kwargs)
        model.register_forward_hook(first_row_nan)
        return model

    monkeypatch.setattr(stage_rewards, "load_reward_model", reward_model_with_a_nan_row)
    monkeypatch.setitem(session.section("preference"), "reward_batch_size", 2)  # one NaN per batch of two
    with pytest.warns(UserWarning, match=r"meta-llama/Llama-3\.2-3B base: the reward model .* non-finite score "
                                         r"\(NaN/inf\) for 2 of 4 held-out answers"):
        [row] = stage_rewards.score_answers(session, [stage_rewards.StageAnswers(LLAMA, "base", records)])
    assert row["n"] == 2 and math.isfinite(row["mean_reward"])
    assert "2 of 4 answers scored NaN/inf by the reward model, left out" in row["note"]


def test_an_sft_run_whose_loss_turns_nan_fails_naming_model_stage_and_step(tmp_path, toy_world):
    from sit.training import train_sft

    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **SMALL)

    def nan_logits(trainer):  # the decoder's last norm: every logit after it is NaN, whichever head computes them
        [*_, norm] = (m for name, m in trainer.model.named_modules() if name.endswith("model.norm"))
        norm.register_forward_hook(_nan_logits)

    with pytest.raises(RuntimeError, match=r"meta-llama/Llama-3\.2-3B: the SFT loss is nan at step 2 "):
        train_sft(session, LLAMA, progress=False, trainer_hook=nan_logits)
    assert not (tmp_path / "models/llama-3.2-3b/sft/manifest.json").exists()
