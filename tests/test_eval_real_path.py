"""Evaluation on the toy world, for what the first real run would hit: base answers that run on into invented
turns, a judge loaded once per stage, an out-of-memory error in lm-eval, and a run that buries its results in
library noise."""

import subprocess
import sys
from pathlib import Path

import pytest

from sit.evaluation import evaluate
from sit.evaluation.harness import local_subjects
from sit.evaluation.mtbench import stage_dir
from sit.evaluation.results import items_path, read_items, read_table, results_path
from sit.session import start
from sit.stages import load_stage
from sit.store import read_jsonl, write_json_atomic

LLAMA = "meta-llama/Llama-3.2-3B"
QWEN = "Qwen/Qwen2.5-3B"
MARKER = "### Instruction"
SIT = str(Path(sys.executable).with_name("sit"))
pytestmark = pytest.mark.slow


def add_unchanged_sft_adapter(session, model_name: str) -> None:
    """A freshly initialised LoRA adapter (B = 0) saved as the finished SFT stage: a second stage to evaluate."""
    from peft import LoraConfig, get_peft_model

    spec = session.registry.get(model_name)
    model, tokenizer = load_stage(session, model_name, "base")
    folder = session.workspace.root / "models" / spec.slug / "sft"
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    write_json_atomic(folder / "manifest.json", {"phase": "04_sft", "finished_at": "2026-01-01T00:00:00+00:00",
                                                 "fingerprint": {"model": spec.id, "world": session.world_id}})


def test_base_answers_stop_where_phase_03_stops_them(toy_world, tmp_path):
    """The base stage is given phase 03's stop set in every benchmark (lm-eval's ``until`` and the generation's
    stop ids for IFEval, the runner's stop strings for MT-Bench), no answer holds the format's next-example marker,
    and the notes say how base was asked and stopped."""
    from sit.evaluation.benchmarks import IFEVAL
    from sit.evaluation.harness import run_harness
    from sit.preference.base_prompting import base_stops, completion_template

    session = start("demo", str(tmp_path), verbose=False,
                    overrides={"evaluation.ifeval.limit": 6, "evaluation.mt_bench.questions": 1})
    spec = session.registry.get(LLAMA)
    model, tokenizer = load_stage(session, LLAMA, "base")
    tokenizer.chat_template = completion_template(spec)
    stops = base_stops(spec, tokenizer)
    raw = run_harness(model, tokenizer, IFEVAL, {"tasks": "local", "limit": 2, "max_gen_toks": 8, "batch_size": 2},
                      chat_template=True, seed=session.seed, stops=stops)
    asked = raw["samples"]["ifeval_local"][0]["arguments"][0][1]
    eot, eos = tokenizer.convert_tokens_to_ids(["<|eot_id|>", "<|end_of_text|>"])
    assert asked["until"][0] == MARKER and {"<|eot_id|>", "<|end_of_text|>"} <= set(asked["until"])
    assert asked["eos_token_id"] == [eot, eos] == list(stops[0])

    evaluate(session, LLAMA, stages=["base"], benchmarks="ifeval,mt_bench", progress=False)
    answers = read_jsonl(stage_dir(session, spec.slug, "base") / "answers.jsonl")
    outputs = [it["output"] for it in read_items(session, spec.slug, "base", "ifeval")] + [a["answer"] for a in answers]
    assert len(outputs) == 6 + 16 and not [o for o in outputs if MARKER in o]
    assert all(a["gen"]["prompting"] == {"prompt_format": spec.prompt_format, "stop_strings": [MARKER],
                                         "turn_end": "\n\n"} for a in answers)
    notes = {r["benchmark"]: r["note"] for r in read_table(results_path(session)) if r["stage"] == "base"}
    for benchmark in ("ifeval", "mt_bench"):
        assert "base asked in its completion format ('### Instruction:'" in notes[benchmark]
        assert "stopped at end-of-turn <|eot_id|>, end-of-text, '### Instruction'" in notes[benchmark]


def test_base_mt_bench_turn_two_closes_the_first_answer_as_the_format_closes_a_turn(toy_world, tmp_path):
    """MT-Bench's second turn holds the first answer: Qwen base (ChatML) closes it with <|im_end|> as the format
    closes the user's turn, Llama base (Alpaca) with a blank line."""
    from sit.evaluation.mtbench import render
    from sit.models import load_tokenizer
    from sit.preference.base_prompting import base_prompting, completion_template

    session = start("demo", str(tmp_path), verbose=False)
    chat = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    expected = {QWEN: "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                      "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n",
                LLAMA: "<|begin_of_text|>### Instruction:\nQ1\n\n### Response:\nA1\n\n"
                       "### Instruction:\nQ2\n\n### Response:\n"}
    for name, text in expected.items():
        spec = session.registry.get(name)
        tokenizer = load_tokenizer(spec, session.profile)
        tokenizer.chat_template = completion_template(spec)
        assert render(tokenizer, chat) == text
    # answers made with the old close are another prompting: they are made again, not mixed
    assert base_prompting(session.registry.get(QWEN))["turn_end"] == "<|im_end|>\n"


def _held_out_session(tmp_path, n: int, heldout: int):
    """A demo session whose filtered set holds ``n`` plain instructions, ``heldout`` of them held out."""
    from sit.store import write_jsonl_atomic

    instructions = ["Give three tips for staying healthy.", "Name a fruit that is red.", "Describe a sunny day.",
                    "Write a haiku about rain.", "List two uses of salt.", "Explain what a verb is."][:n]
    write_jsonl_atomic(tmp_path / "data/filtered/filtered.jsonl", [
        {"id": f"magpie-{k:05d}", "instruction": text, "response": "An answer.", "generator": "g"}
        for k, text in enumerate(instructions)])
    return start("demo", str(tmp_path), verbose=False, overrides={"training.heldout": heldout})


def test_held_out_base_answers_are_asked_in_the_completion_format_and_stopped_by_base_stops(toy_world, tmp_path,
                                                                                            monkeypatch):
    """The held-out reward benchmark asks base as IFEval and MT-Bench do: the completion format, phase 03's stop
    set. Answers made before (no prompting in their fingerprint) are made again, and the row's note says how."""
    import sit.evaluation.stage_rewards as stage_rewards
    from sit.evaluation.compare import stage_rows
    from sit.inference.engine import HFBackend
    from sit.preference.base_prompting import base_prompting, base_stops
    from sit.preference.responses import completion_prompt
    from sit.store import write_jsonl_atomic

    session = _held_out_session(tmp_path, 6, heldout=3)
    spec = session.registry.get(LLAMA)
    asked = []

    class Recorded(HFBackend):
        def generate(self, prompts, settings):
            asked.extend((p.text, settings) for p in prompts)
            return super().generate(prompts, settings)

    monkeypatch.setattr(stage_rewards, "HFBackend", Recorded)
    first = stage_rewards.stage_answers(session, LLAMA, "base", max_new_tokens=24, batch_size=3, progress=False)
    tokenizer = load_stage(session, LLAMA, "base")[1]
    by_instruction = {r["instruction"]: r for r in first.records}
    assert len(asked) == 3 and {text for text, _ in asked} == {
        completion_prompt(spec.prompt_format, i, "<|begin_of_text|>") for i in by_instruction}
    ids, strings = base_stops(spec, tokenizer)
    assert all(s.stop_token_ids == ids and s.stop_strings == strings == (MARKER,) for _, s in asked)
    assert all(r["gen"]["prompting"] == base_prompting(spec) and MARKER not in r["response"] for r in first.records)

    path = stage_rewards.answers_path(session, spec.slug, "base")  # answers of the chat-template days
    write_jsonl_atomic(path, [{**r, "response": "old", "gen": {k: v for k, v in r["gen"].items() if k != "prompting"}}
                              for r in first.records])
    asked.clear()
    rows = stage_rewards.compare_stages(session, [LLAMA], max_new_tokens=24, batch_size=3, progress=False)
    assert len(asked) == 3 and {r["id"]: r["response"] for r in read_jsonl(path)} == {
        r["id"]: r["response"] for r in first.records}
    note = "base asked in its completion format ('### Instruction:' ...), stopped at end-of-turn <|eot_id|>"
    assert [r["stage"] for r in rows] == ["base"] and note in rows[0]["note"]
    assert note in stage_rows(session.workspace.stages_table, session.world_id)[0]["note"]
    items = read_jsonl(items_path(session, spec.slug, "base", "reward"))
    assert all(it["prompting"] == base_prompting(spec) for it in items)


def test_the_judge_is_loaded_once_for_all_stages_of_a_run(toy_world, tmp_path, monkeypatch, recwarn):
    import sit.evaluation.judging as judging

    session = start("demo", str(tmp_path), verbose=False, overrides={"evaluation.mt_bench.questions": 1})
    add_unchanged_sft_adapter(session, QWEN)
    loads = []
    real_load = judging.load_decoding_lm

    def counted(spec, profile, **kwargs):
        loads.append(spec.id)
        return real_load(spec, profile, **kwargs)

    monkeypatch.setattr(judging, "load_decoding_lm", counted)
    recwarn.clear()
    result = evaluate(session, QWEN, benchmarks="mt_bench", progress=False)
    assert result.stages == ["base", "sft"]
    assert result.ran == [("base", "mt_bench"), ("sft", "mt_bench")]
    assert loads == ["Qwen/Qwen2.5-7B-Instruct"]
    # loading the SFT adapter makes PEFT call a deprecated transformers method: not the user's concern
    assert not [w for w in recwarn if "is_gradient_checkpointing" in str(w.message)]


def test_an_out_of_memory_error_in_lm_eval_halves_the_batch_for_the_rest_of_the_run(toy_world, tmp_path,
                                                                                       monkeypatch):
    """lm-eval's forward pass raises CUDA's out-of-memory error above 2 rows (the one seam: no GPU here). The
    first stage's call halves its batch twice; the second stage starts at the smaller batch and never fails."""
    import torch
    from lm_eval.models.huggingface import HFLM

    session = start("demo", str(tmp_path), verbose=False,
                    overrides={"evaluation.mmlu.batch_size": 8, "evaluation.mmlu.limit": 4})
    add_unchanged_sft_adapter(session, QWEN)
    real_call = HFLM._model_call
    raised = []

    def tight_memory(self, inps, *args, **kwargs):
        if inps.shape[0] > 2:
            raised.append(inps.shape[0])
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {inps.shape[0]} GiB")
        return real_call(self, inps, *args, **kwargs)

    monkeypatch.setattr(HFLM, "_model_call", tight_memory)
    result = evaluate(session, QWEN, benchmarks="mmlu", progress=False)
    assert raised == [8, 4]
    assert result.batch_sizes["mmlu"].size == 2
    rows = {r["stage"]: r for r in read_table(results_path(session)) if r["benchmark"] == "mmlu"}
    assert sorted(rows) == ["base", "sft"] and {r["n"] for r in rows.values()} == {4 * len(local_subjects())}
    for row in rows.values():
        assert "batch 8 -> 2 after 2 out-of-memory error(s), kept for the rest of the run" in row["note"]
    assert rows["base"]["value"] == rows["sft"]["value"]  # the B = 0 adapter computes the base model


class TightMemory:
    """The real ``HFBackend.generate``, except that a batch above 2 prompts raises CUDA's out-of-memory error (the one
    seam: no GPU here). ``raised`` lists who ran out of memory at which batch size."""

    def __init__(self, monkeypatch):
        from sit.inference.engine import HFBackend

        self.raised, real = [], HFBackend.generate

        def generate(backend, prompts, settings):
            if len(prompts) > 2:
                self.raised.append((backend.label, len(prompts)))
                import torch

                raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(prompts)} GiB")
            return real(backend, prompts, settings)

        monkeypatch.setattr(HFBackend, "generate", generate)


def test_an_out_of_memory_error_in_mt_bench_halves_the_answers_and_judge_batch_for_the_rest_of_the_run(
        toy_world, tmp_path, monkeypatch):
    """Base runs out of memory at the full batch, once for its answers and twice in the judge; the SFT stage starts
    at the smaller batches and never does; every row's note says so."""
    session = start("demo", str(tmp_path), verbose=False, overrides={
        "evaluation.mt_bench.questions": 1, "evaluation.mt_bench.batch_size": 8, "evaluation.mt_bench.judge_batch_size": 8,
        "evaluation.mt_bench.max_new_tokens": 8, "evaluation.mt_bench.judge_max_new_tokens": 8})
    add_unchanged_sft_adapter(session, QWEN)
    memory = TightMemory(monkeypatch)
    result = evaluate(session, QWEN, benchmarks="mt_bench", progress=False)
    assert result.ran == [("base", "mt_bench"), ("sft", "mt_bench")]
    judge = "judge Qwen/Qwen2.5-7B-Instruct (answers of stage base)"
    # one question per category: 4 of them are answered at temperature 0, in one batch; 16 judgments
    assert memory.raised == [(f"{QWEN} (base)", 4), (judge, 8), (judge, 4)]
    notes = {r["stage"]: r["note"] for r in read_table(results_path(session)) if r["benchmark"] == "mt_bench"}
    for note in notes.values():
        assert "answers: batch halved from 4 to 2 after an out-of-memory error, kept for the rest of the run" in note
        assert "judge: batch halved from 8 to 2 after 2 out-of-memory errors, kept for the rest of the run" in note


def test_an_out_of_memory_error_in_held_out_answers_halves_the_batch_for_the_later_stages(toy_world, tmp_path,
                                                                                           monkeypatch):
    from sit.evaluation.stage_rewards import stage_answers

    session = _held_out_session(tmp_path, 6, heldout=4)
    add_unchanged_sft_adapter(session, QWEN)
    memory = TightMemory(monkeypatch)
    base = stage_answers(session, QWEN, "base", max_new_tokens=8, batch_size=4, progress=False)
    sft = stage_answers(session, QWEN, "sft", max_new_tokens=8, batch_size=4, progress=False)  # as notebook 04 asks
    assert memory.raised == [(f"{QWEN} (base)", 4)] and len(base.records) == len(sft.records) == 4
    for answers in (base, sft):
        assert answers.note == "batch halved from 4 to 2 after an out-of-memory error, kept for the rest of the run"


NOISE = ("`pretrained` model kwarg is not of type `str`", "Passed an already-initialized model",
         "Overwriting default num_fewshot", "specified through cli", "gemm_4bit_forward", "FutureWarning",
         "TqdmWarning", "it/s]", "s/it]", "item/s]", "Generating train split", "Loading weights")


def test_an_evaluation_run_prints_none_of_the_known_noise(toy_world, tmp_path):
    """`sit eval` on the base stage, progress left to its default (stderr here is a pipe, as under papermill or
    CI): its stderr holds none of the known noise of lm-eval, bitsandbytes and tqdm."""
    run = subprocess.run(
        [SIT, "eval", "--model", "qwen2.5-3b", "--stage", "base", "--benchmarks", "ifeval,mmlu,mt_bench", "--profile", "demo",
         "--workspace", str(tmp_path), "--set", "evaluation.ifeval.limit=4", "--set", "evaluation.mmlu.limit=2",
         "--set", "evaluation.mt_bench.questions=1", "--set", "evaluation.mt_bench.max_new_tokens=16"],
        capture_output=True, text=True, timeout=900, env={**_env(), "CI": ""})
    assert run.returncode == 0, run.stderr[-3000:]
    found = [n for n in NOISE if n in run.stderr]
    assert not found, (found, run.stderr[-3000:])
    assert "ifeval" in run.stdout and "mmlu" in run.stdout and "mt_bench" in run.stdout


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
