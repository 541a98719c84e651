"""Preference data on the toy world: answers, freeing the model, reward scoring, the CLI, a kill, and DPO."""

import json
import math
import random
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch
from killing import kill_while_writing

import sit.preference.responses as responses_module
import sit.preference.scoring as scoring_module
from sit.config import ConfigError
from sit.models import load_causal_lm, load_decoding_lm, load_reward_model, load_tokenizer
from sit.preference import respond, run, score
from sit.preference.scoring import reward_inputs, reward_scores
from sit.session import start
from sit.store import read_jsonl, write_jsonl_atomic
from sit.toy.corpus import make_corpus

LLAMA, MISTRAL, QWEN = "meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"
REWARD = "OpenAssistant/reward-model-deberta-v3-large-v2"
GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"
SIT = str(Path(sys.executable).with_name("sit"))
# The targets' answers only (the demo profile also offers the generator's), unless a test adds it.
SMALL = {"batch_size": 4, "checkpoint_every": 4, "max_new_tokens_response": 48, "include_generator_response": False}


def write_filtered(workspace: Path, n: int) -> list[dict]:
    """A stand-in for phase 2's output: ``n`` clean toy-corpus instructions with their answers."""
    clean = [item for item in make_corpus(seed=3, n=4 * n) if item["kind"] == "clean"][:n]
    records = [{"id": f"magpie-{k:05d}", "instruction": item["instruction"], "response": item["response"],
                "generator": GENERATOR} for k, item in enumerate(clean)]
    write_jsonl_atomic(workspace / "data/filtered/filtered.jsonl", records)
    return records


def session_for(workspace, **preference):
    """A demo session with small preference settings (keys of the profile's ``preference`` section)."""
    settings = {**SMALL, **preference}
    return start("demo", str(workspace), 42, {f"preference.{k}": v for k, v in settings.items()}, verbose=False)


@pytest.fixture(scope="module")
def reward(toy_world):
    profile = start("demo", verbose=False).profile
    spec = start("demo", verbose=False).registry.get(REWARD)
    return load_tokenizer(spec, profile, padding_side="right"), load_reward_model(spec, profile)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, toy_world):
    """A workspace where Llama and Qwen answered and were scored, so pairs exist."""
    workspace = tmp_path_factory.mktemp("two-models")
    write_filtered(workspace, 12)
    session = session_for(workspace)
    first = run(session, LLAMA, progress=False)
    second = run(session, QWEN, progress=False)
    return workspace, first, second


# --------------------------------------------------------------------------- answers


def test_every_instruction_is_answered_in_the_registered_format(two_models):
    workspace, first, _ = two_models
    filtered = read_jsonl(workspace / "data/filtered/filtered.jsonl")
    records = read_jsonl(workspace / "data/preference/responses/llama-3.2-3b.jsonl")
    assert [r["id"] for r in first.responses.records] == [r["id"] for r in filtered]
    assert {r["id"] for r in records} == {r["id"] for r in filtered}
    keys = {"id", "instruction", "response", "model", "response_tokens", "finish_reason", "gen", "score"}
    assert all(keys <= r.keys() and r["model"] == LLAMA for r in records)
    assert all(r["finish_reason"] in ("stop", "length") for r in records)
    assert all("### Instruction" not in r["response"] for r in records)  # cut at the next example
    assert sum(len(r["response"].split()) >= 5 for r in records) >= len(records) // 2
    assert all(r["response_tokens"] <= 48 for r in records)
    assert all(r["response_tokens"] == 48 for r in records if r["finish_reason"] == "length")
    assert records[0]["gen"]["prompt_format"].startswith("### Instruction:")
    assert records[0]["gen"]["stop_strings"] == ["### Instruction"]


def test_prompts_start_with_bos_only_when_the_tokenizer_has_one(tmp_path, toy_world, monkeypatch):
    write_filtered(tmp_path, 2)
    seen = {}
    real = responses_module.run_stage

    def spy(store, prompts, backend, settings, **kwargs):
        seen[backend.tokenizer.name_or_path] = ([p.text for p in prompts], settings, kwargs["bucket"])
        return real(store, prompts, backend, settings, **kwargs)

    monkeypatch.setattr(responses_module, "run_stage", spy)
    session = session_for(tmp_path, max_new_tokens_response=4)
    for model in (LLAMA, MISTRAL, QWEN):
        respond(session, model, progress=False)
    (llama, s_llama, bucket), (mistral, s_mistral, _), (qwen, s_qwen, _) = seen.values()
    assert bucket and llama[0].startswith("<|begin_of_text|>### Instruction:\n")
    assert mistral[0].startswith("<s>### Instruction:\n") and mistral[0].endswith("\n\n### Response:\n")
    assert qwen[0].startswith("<|im_start|>user\n") and qwen[0].endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert s_llama.stop_strings == ("### Instruction",) and s_qwen.stop_strings == ()
    assert s_llama.temperature == 0.0 and s_llama.max_new_tokens == 4 and len(s_qwen.stop_token_ids) >= 1


def test_a_finished_run_is_a_no_op_and_other_settings_are_refused(two_models):
    workspace, _, _ = two_models
    path = workspace / "data/preference/responses/llama-3.2-3b.jsonl"
    before = path.read_bytes()
    again = respond(session_for(workspace), LLAMA, progress=False)
    assert again.stats is None and path.read_bytes() == before
    with pytest.raises(ConfigError, match=r"other settings \(max_new_tokens: 48 -> 32\).*delete .*llama-3.2-3b"):
        respond(session_for(workspace, max_new_tokens_response=32), LLAMA, progress=False)
    with pytest.raises(ConfigError, match="not registered as a target"):
        respond(session_for(workspace), GENERATOR, progress=False)


def test_missing_filtered_set_is_named_before_any_model_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(responses_module, "load_decoding_lm", None)  # would fail if called
    with pytest.raises(FileNotFoundError, match="Run notebook 02 .*data/filtered/filtered.jsonl"):
        respond(session_for(tmp_path), LLAMA, progress=False)


def test_an_out_of_memory_error_halves_the_answers_batch_for_the_rest_of_the_run_and_the_report_says_so(
        tmp_path, toy_world, monkeypatch):
    """A batch above 2 prompts raises CUDA's out-of-memory error (the one seam: no GPU here). The halved batch holds
    when the answers are resumed in the same session, and the pairs report names it."""
    from sit.inference.engine import HFBackend

    write_filtered(tmp_path, 6)
    session = session_for(tmp_path, include_generator_response=True)
    sizes, real = [], HFBackend.generate

    def tight(backend, prompts, settings):
        sizes.append(len(prompts))
        if len(prompts) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(backend, prompts, settings)

    monkeypatch.setattr(HFBackend, "generate", tight)
    first = run(session, QWEN, progress=False)
    note = "batch halved from 4 to 2 after an out-of-memory error, kept for the rest of the run"
    assert sizes == [4, 2, 2, 2] and first.responses.note == note
    assert first.pairs.ready and first.pairs.report["generation_notes"] == {QWEN: note}
    path = session.workspace.responses_file("qwen2.5-3b")  # a disconnect lost the last answers
    write_jsonl_atomic(path, read_jsonl(path)[:3])
    sizes.clear()
    again = respond(session, QWEN, progress=False)
    assert sizes and max(sizes) == 2 and len(again.records) == 6


# --------------------------------------------------------------------------- freeing the model


def test_the_target_model_is_gone_before_the_reward_model_loads(tmp_path, toy_world, monkeypatch):
    write_filtered(tmp_path, 4)
    refs, checked = [], []

    def load_target(spec, profile, **kwargs):
        model = load_decoding_lm(spec, profile, **kwargs)
        refs.append(weakref.ref(model))
        return model

    def load_reward(spec, profile):
        checked.append([ref() is None for ref in refs])
        return load_reward_model(spec, profile)

    monkeypatch.setattr(responses_module, "load_decoding_lm", load_target)
    monkeypatch.setattr(scoring_module, "load_reward_model", load_reward)
    result = run(session_for(tmp_path), LLAMA, progress=False)
    assert checked == [[True]]  # one target loaded, and dead when the reward model was loaded
    assert result.responses.memory is not None and result.scores[0].newly_scored == 4


# --------------------------------------------------------------------------- scoring


def test_reward_input_is_a_truncated_question_answer_pair(reward):
    tokenizer, _ = reward
    encoded = reward_inputs(tokenizer, ["What is rain?"], ["Rain is water."], max_length=512)
    ids = encoded["input_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id and ids.count(tokenizer.sep_token_id) == 2
    text = tokenizer.decode(ids)
    assert text.index("What is rain?") < text.index(tokenizer.sep_token) < text.index("Rain is water.")
    long_answer = " ".join(["word"] * 2000)
    truncated = reward_inputs(tokenizer, ["What is rain?"], [long_answer], max_length=64)["input_ids"][0].tolist()
    assert len(truncated) == 64 and truncated[-1] == tokenizer.sep_token_id
    assert "What is rain?" in tokenizer.decode(truncated)  # the long answer is cut, not the question


def test_batched_scores_equal_one_by_one_scores(reward):
    tokenizer, model = reward
    items = [item for item in make_corpus(seed=5, n=40)][:10]
    pairs = [(it["instruction"], it["response"][: 40 + 60 * k]) for k, it in enumerate(items)]
    batched = reward_scores(model, tokenizer, pairs, batch_size=4, max_length=512)
    single = reward_scores(model, tokenizer, pairs, batch_size=1, max_length=512)
    assert max(abs(a - b) for a, b in zip(batched, single, strict=True)) < 1e-5
    with torch.inference_mode():
        direct = model(**tokenizer(*pairs[3], return_tensors="pt")).logits[0, 0].item()
    assert abs(single[3] - direct) < 1e-5 and len(set(batched)) > 5  # the logit itself, per pair


def test_scores_are_stored_beside_the_answers_and_not_recomputed(two_models, monkeypatch):
    workspace, first, _ = two_models
    records = read_jsonl(workspace / "data/preference/responses/llama-3.2-3b.jsonl")
    assert [r["score"] for r in records] == [r["score"] for r in first.scores[0].records]
    assert all(r["scored_with"]["model"] == REWARD and r["scored_with"]["max_length"] == 512 for r in records)
    monkeypatch.setattr(scoring_module, "load_reward_model", None)  # would fail if called
    assert [s.newly_scored for s in score(session_for(workspace), LLAMA, progress=False)] == [0]


def test_a_reward_model_without_a_single_logit_is_refused(tmp_path, reward, monkeypatch):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    tokenizer, model = reward
    config = AutoConfig.from_pretrained(model.name_or_path, num_labels=2)
    config.save_pretrained(tmp_path / "two-labels")
    monkeypatch.setattr("sit.models.model_source", lambda spec, profile: str(tmp_path / "two-labels"))
    session = start("demo", str(tmp_path), verbose=False)
    with pytest.raises(ConfigError, match="has 2 output labels; a reward model must be a sequence classifier "
                                          "with a single logit"):
        load_reward_model(session.registry.get(REWARD), session.profile)
    two_logits = AutoModelForSequenceClassification.from_config(config).eval()
    with pytest.raises(ConfigError, match="returned 2 logits per input; it must return one"):
        reward_scores(two_logits, tokenizer, [("q", "a")], batch_size=1, max_length=32)


# --------------------------------------------------------------------------- pairs, CLI, DPO


def test_two_models_give_pairs_and_the_first_alone_did_not(two_models):
    workspace, first, second = two_models
    assert not first.pairs.ready and QWEN in first.pairs.missing and "no answers yet" in first.pairs.message
    assert second.pairs.ready and second.pairs.pairs
    for pair in read_jsonl(workspace / "data/preference/pairs.jsonl"):
        assert {pair["chosen_model"], pair["rejected_model"]} == {LLAMA, QWEN} and pair["margin"] > 0
        assert pair["chosen"][0]["content"].split() != pair["rejected"][0]["content"].split()
    report = json.loads((workspace / "data/preference/report.json").read_text())
    assert report["pairs_kept"] == len(second.pairs.pairs) and report["models_used"] == sorted([LLAMA, QWEN])
    assert report["pairs_kept"] + sum(report["skipped"].values()) + report["beyond_target"] == 12


def test_the_generators_own_answer_is_scored_and_paired_when_enabled(tmp_path, toy_world):
    filtered = write_filtered(tmp_path, 4)
    result = run(session_for(tmp_path, include_generator_response=True), LLAMA, progress=False)
    generator_file, = [s for s in result.scores if s.path.name == "magpie-generator.jsonl"]
    assert [r["response"] for r in generator_file.records] == [r["response"] for r in filtered]
    assert generator_file.newly_scored == 4 and all(r["model"] == GENERATOR for r in generator_file.records)
    assert result.pairs.ready and result.pairs.report["models_used"] == sorted([GENERATOR, LLAMA])
    assert {p["n_candidates"] for p in result.pairs.pairs} == {2}


def _cli(workspace, *args):
    return subprocess.run([SIT, "preference", *args, "--workspace", str(workspace), "--profile", "demo",
                           "--set", "preference.include_generator_response=false"],
                          capture_output=True, text=True, timeout=600)


def test_cli_rebuilds_pairs_and_explains_bad_calls(two_models, tmp_path):
    workspace, _, second = two_models
    (workspace / "data/preference/pairs.jsonl").unlink()
    done = _cli(workspace, "pairs")
    assert done.returncode == 0, done.stderr
    assert f"{len(second.pairs.pairs)} pairs from 2 models" in done.stdout
    assert read_jsonl(workspace / "data/preference/pairs.jsonl") == second.pairs.pairs
    no_model = _cli(workspace)
    assert no_model.returncode == 2 and "needs --model NAME" in no_model.stderr
    no_input = _cli(tmp_path, "--model", LLAMA)
    assert no_input.returncode == 2 and "Run notebook 02" in no_input.stderr
    write_filtered(tmp_path, 2)
    one = _cli(tmp_path, "pairs")
    assert one.returncode == 0 and "at least 2 models; ready: none" in one.stdout


def _respond_cli(workspace):
    return [SIT, "preference", "--model", LLAMA, "--workspace", str(workspace), "--profile", "demo", "--quiet",
            *[f"--set=preference.{k}={v}" for k, v in {**SMALL, "checkpoint_every": 2}.items()]]


def test_response_stage_survives_sigkill(tmp_path, toy_world):
    """Kill a real `sit preference` at random points while it answers; the result equals an uninterrupted run's."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for workspace in (reference, killed):
        write_filtered(workspace, 24)
    subprocess.run(_respond_cli(reference), check=True, timeout=600)
    target = killed / "data/preference/responses/llama-3.2-3b.jsonl"
    kills = kill_while_writing(_respond_cli(killed), [target], rounds=3, max_delay=0.4, rng=random.Random(7))
    assert kills >= 2
    subprocess.run(_respond_cli(killed), check=True, timeout=600)
    lines = target.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is valid JSON
    assert len(records) == 24 and len({r["id"] for r in records}) == 24
    want = {r["id"]: r for r in read_jsonl(reference / "data/preference/responses/llama-3.2-3b.jsonl")}
    assert {r["id"]: r for r in records} == want  # answers and scores alike


def test_pairs_load_into_trl_dpo_and_take_one_optimisation_step(two_models, tmp_path):
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer

    workspace, _, _ = two_models
    dataset = load_dataset("json", data_files=str(workspace / "data/preference/pairs.jsonl"), split="train")
    session = start("demo", verbose=False)
    spec = session.registry.get(LLAMA)
    tokenizer = load_tokenizer(spec, session.profile, padding_side="right")
    model = load_causal_lm(spec, session.profile)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = DPOConfig(output_dir=str(tmp_path / "dpo"), use_cpu=True, bf16=False, fp16=False, max_steps=1,
                       per_device_train_batch_size=2, learning_rate=1e-3, report_to=[], save_strategy="no",
                       logging_steps=1, max_length=256)
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    output = trainer.train()
    assert output.global_step == 1 and math.isfinite(output.training_loss)
    assert abs(output.training_loss - math.log(2)) < 1e-3  # first step: policy == reference, loss = log 2
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert changed
