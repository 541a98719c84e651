"""Evaluation on the toy world: real lm-eval runs (IFEval scoring offline, MMLU few-shot), result parsing,
a registered benchmark end to end, MT-Bench resume after SIGKILL, and the toy judge's ratings."""

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from killing import kill_while_writing

from sit.config import ConfigError
from sit.evaluation import evaluate
from sit.evaluation.benchmarks import BENCHMARKS, IFEVAL, MMLU, Benchmark, register_benchmark
from sit.evaluation.harness import DATA_DIR, item_scores, local_subjects, run_harness, sample_sizes
from sit.evaluation.punkt import ensure_punkt
from sit.evaluation.results import metric_rows, read_table, results_path
from sit.preference.base_prompting import completion_template
from sit.session import start
from sit.stages import load_stage
from sit.store import read_jsonl
from sit.workspace import Workspace

QWEN = "Qwen/Qwen2.5-3B"
SIT = str(Path(sys.executable).with_name("sit"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(toy_world, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("eval")
    session = start("demo", str(workspace), verbose=False)
    ensure_punkt(session.workspace, seed=session.seed, offline=True)
    return session


@pytest.fixture(scope="module")
def base_model(session):
    model, tokenizer = load_stage(session, QWEN, "base")
    return model, tokenizer


def test_ifeval_scoring_runs_offline_with_the_trained_punkt(session):
    from lm_eval.tasks.ifeval.utils import process_results

    docs = {}  # the first prompt with this instruction alone
    for doc in read_jsonl(DATA_DIR / "ifeval.jsonl"):
        if len(doc["instruction_id_list"]) == 1:
            docs.setdefault(doc["instruction_id_list"][0], doc)
    sentences = docs["length_constraints:number_sentences"]  # fewer than 5 sentences
    assert process_results(sentences, ["Sleep helps memory. It repairs the body. Rest well."])["prompt_level_strict_acc"]
    six = "Sleep helps. It repairs. It calms. It restores. It protects. It matters."
    assert not process_results(sentences, [six])["prompt_level_strict_acc"]
    lower = docs["change_case:english_lowercase"]
    assert process_results(lower, ["the ocean at night is calm and dark."])["prompt_level_strict_acc"]
    assert not process_results(lower, ["The Ocean at night."])["prompt_level_strict_acc"]
    english = docs["language:response_language"]
    assert process_results(english, ["A budget is a plan for how you spend your money each month."])[
        "prompt_level_strict_acc"]
    assert not process_results(english, ["Ein Budget ist ein Plan, wie man sein Geld jeden Monat ausgibt."])[
        "prompt_level_strict_acc"]
    result = process_results(lower, ["Sure, here it is:\nthe ocean at night is calm and dark."])
    assert result["prompt_level_strict_acc"] is False and result["prompt_level_loose_acc"] is True  # loose drops line 1
    ps = docs["detectable_content:postscript"]
    assert process_results(ps, ["Save a little each week.\n\nP.S. Start today."])["prompt_level_strict_acc"]
    assert not process_results(ps, ["Save a little each week."])["prompt_level_strict_acc"]


def test_every_workspace_trains_its_own_punkt_model_and_puts_it_first_on_nltks_path(tmp_path):
    import nltk

    first, second = Workspace(tmp_path / "first"), Workspace(tmp_path / "second")
    trained = "punkt_tab trained offline (nltk PunktTrainer on the toy corpus)"
    # the second workspace must not take (and call downloaded) the model the first one registered
    assert ensure_punkt(first, seed=3, offline=True) == ensure_punkt(second, seed=3, offline=True) == trained
    for workspace in (first, second, first):
        ensure_punkt(workspace, seed=3, offline=True)
        found = Path(nltk.data.find("tokenizers/punkt_tab/english/").path)
        assert found.is_relative_to(workspace.nltk_data_dir)


def test_lm_eval_results_parse_into_rows_that_match_lm_evals_aggregates(session, base_model):
    model, tokenizer = base_model
    spec = session.registry.get(QWEN)
    tokenizer.chat_template = completion_template(spec)
    settings = {"tasks": "local", "limit": 28, "max_gen_toks": 24, "batch_size": 16}
    raw = run_harness(model, tokenizer, IFEVAL, settings, chat_template=True, seed=session.seed)
    items = item_scores(raw, IFEVAL)
    assert sample_sizes(raw) == {"ifeval_local": 28} and len(items) == 28
    rows = {r["metric"]: r for r in metric_rows(model=QWEN, stage="base", benchmark="ifeval", items=items,
                                                  metrics=IFEVAL.metrics, world=session.world_id)}
    for metric in IFEVAL.metrics:
        assert rows[metric]["value"] == pytest.approx(raw["results"]["ifeval_local"][f"{metric},none"])
        assert rows[metric]["n"] == 28
    assert all(isinstance(it["output"], str) for it in items)
    prompt = raw["samples"]["ifeval_local"][0]["arguments"][0][0]
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")  # base: ChatML format


def test_mmlu_few_shot_examples_are_the_first_dev_items_of_the_same_subject(session, base_model):
    model, tokenizer = base_model
    settings = {"tasks": "local", "subjects": None, "limit": 3, "num_fewshot": 2, "batch_size": 16}
    raw = run_harness(model, tokenizer, MMLU, settings, chat_template=False, seed=session.seed)
    assert sample_sizes(raw) == {f"mmlu_local_{s}": 3 for s in local_subjects()}
    for task, samples in raw["samples"].items():
        subject = task[len("mmlu_local_"):]
        dev = [d["question"] for d in read_jsonl(DATA_DIR / f"mmlu_{subject}_dev.jsonl")]
        for sample in samples:
            context = sample["arguments"][0][0]
            assert context.startswith(f"The following are multiple choice questions (with answers) about "
                                      f"{subject.replace('_', ' ')}.")
            shown = [q for q in dev if q in context]
            assert shown == dev[:2] and context.index(dev[0]) < context.index(dev[1])
            assert context.count("\nAnswer:") == 3  # two solved examples and the question itself
    items = item_scores(raw, MMLU)
    # the option each question picked is kept: a model that always picks one letter can be named as such
    assert all(it["choice"] in range(4) and it["scores"]["acc"] == float(it["choice"] == int(it["target"]))
               for it in items)
    per_task = [raw["results"][t]["acc,none"] for t in sorted(raw["results"])]
    assert metric_rows(model=QWEN, stage="base", benchmark="mmlu", items=items, metrics=("acc",),
                       world="x")[0]["value"] == pytest.approx(sum(per_task) / len(per_task))  # equal subject sizes


def test_a_registered_benchmark_runs_through_evaluate_and_errors_name_the_fix(session):
    register_benchmark(Benchmark(name="nutrition_zero_shot", runner="lm_eval", label="MMLU nutrition 0-shot",
                                 metrics=("acc",), local_task="mmlu_local.yaml", chat_template=False,
                                 knobs={"tasks": "local", "subjects": ["nutrition"], "limit": None, "num_fewshot": 0,
                                        "batch_size": 8}))
    try:
        result = evaluate(session, QWEN, stages=["base"], benchmarks="nutrition_zero_shot", progress=False)
    finally:
        BENCHMARKS.pop("nutrition_zero_shot")
    rows = [r for r in read_table(results_path(session)) if r["benchmark"] == "nutrition_zero_shot"]
    assert len(rows) == 1 and rows[0]["n"] == 20 and rows[0]["stage"] == "base" and "0-shot" in rows[0]["note"]
    assert result.ran == [("base", "nutrition_zero_shot")]
    with pytest.raises((ConfigError, FileNotFoundError), match=r"notebook 04 \(SFT\)"):
        evaluate(session, QWEN, stages=["sft"], benchmarks="mmlu", progress=False)
    with pytest.raises(ConfigError, match="known: ifeval, mmlu, mt_bench"):
        evaluate(session, QWEN, benchmarks="mt-bench", progress=False)
    wrong_judge = start("demo", str(session.workspace.root), verbose=False,
                        overrides={"evaluation.mt_bench.judge": "qwen2.5-3b"})
    with pytest.raises(ConfigError, match="registered judges: Qwen/Qwen2.5-7B-Instruct"):
        evaluate(wrong_judge, QWEN, stages=["base"], benchmarks="mt_bench", progress=False)


def _mt_bench_cli(workspace: Path) -> list[str]:
    return [SIT, "eval", "--model", "qwen2.5-3b", "--stage", "base", "--benchmarks", "mt_bench", "--profile", "demo",
            "--workspace", str(workspace), "--quiet", "--set", "evaluation.mt_bench.batch_size=2",
            "--set", "evaluation.mt_bench.judge_batch_size=2", "--set", "evaluation.mt_bench.checkpoint_every=2"]


def test_mt_bench_answers_and_judgments_resume_after_sigkill(toy_world, tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(_mt_bench_cli(reference), check=True, timeout=900)
    folder = Path("evaluation/mt_bench/qwen2.5-3b/base")
    watched = [killed / folder / "answers.jsonl", killed / folder / "judgments.jsonl"]
    # short delays: on an idle machine a whole remaining stage can finish within half a second
    kills = kill_while_writing(_mt_bench_cli(killed), watched, rounds=4, max_delay=0.1, rng=random.Random(11))
    assert kills >= 2
    subprocess.run(_mt_bench_cli(killed), check=True, timeout=900)
    for name in ("answers.jsonl", "judgments.jsonl"):
        lines = (killed / folder / name).read_text().splitlines()
        got = {r["id"]: r for r in map(json.loads, lines)}  # every line is whole JSON, no id twice
        assert len(got) == len(lines) == 16
        assert got == {r["id"]: r for r in read_jsonl(reference / folder / name)}
    want = [r for r in read_table(reference / "evaluation/results.csv")]
    assert read_table(killed / "evaluation/results.csv") == want
    assert {r["metric"] for r in want} >= {"score", "score_turn1", "score_turn2", "unparsable", "score_writing"}


def test_toy_judge_ratings_track_the_toy_reward_model_on_held_out_answers(session):
    """The toy judge grades in FastChat's format, and its ratings rise with the reward model's scores."""
    from scipy.stats import spearmanr

    from sit.evaluation.judge_prompts import judge_messages, load_prompts, parse_rating
    from sit.inference.engine import HFBackend, Prompt, SamplingSettings
    from sit.models import load_causal_lm, load_reward_model, load_tokenizer, stop_token_ids
    from sit.preference.scoring import reward_scores
    from sit.toy.corpus import labeled_triples

    settings = session.section("evaluation")["mt_bench"]
    judge = session.registry.get(settings["judge"], role="judge")
    tokenizer = load_tokenizer(judge, session.profile)
    backend = HFBackend(load_causal_lm(judge, session.profile), tokenizer)
    prompt = load_prompts(settings["judge_prompts"])["single-v1"]
    held_out = list(labeled_triples(seed=2024, n=60))  # the judge and the reward model never saw this seed
    answers = [(q, a) for q, good, bad, _ in held_out for a in (good, bad)]
    prompts = [Prompt(id=str(i), seed=i, text=tokenizer.apply_chat_template(
        judge_messages(prompt, [q], [a], max_answer_words=settings["max_answer_words"]), tokenize=False,
        add_generation_prompt=True)) for i, (q, a) in enumerate(answers)]
    sampling = SamplingSettings(max_new_tokens=settings["judge_max_new_tokens"],
                                stop_token_ids=tuple(stop_token_ids(judge, tokenizer)))
    texts = [c.text for start in range(0, len(prompts), 16)
             for c in backend.generate(prompts[start:start + 16], sampling)]
    ratings = [parse_rating(t) for t in texts]
    assert sum(r is not None for r in ratings) >= 0.9 * len(ratings)
    fastchat_form = [t for t in texts if re.fullmatch(r"\w[^\n]*\. Rating: \[\[\d+\]\]", t)]
    assert len(fastchat_form) >= 0.9 * len(texts), texts  # a short explanation, then "Rating: [[N]]"
    reward = session.registry.by_role("reward")[0]
    scores = reward_scores(load_reward_model(reward, session.profile),
                           load_tokenizer(reward, session.profile, padding_side="right"), answers, batch_size=16,
                           max_length=512)
    kept = [i for i, r in enumerate(ratings) if r is not None]
    rho, p_value = spearmanr([ratings[i] for i in kept], [scores[i] for i in kept])
    assert rho > 0.15 and p_value < 0.05, (rho, p_value)
    good = [ratings[i] for i in kept if i % 2 == 0]
    bad = [ratings[i] for i in kept if i % 2 == 1]
    assert sum(good) / len(good) > sum(bad) / len(bad)


def test_an_adapter_stage_that_changes_nothing_compares_as_no_change(session, base_model, tmp_path):
    """A freshly initialised LoRA adapter (B = 0) computes exactly the base model: every MMLU item scores the
    same, so the paired delta is 0 with a zero-width interval."""
    from test_eval_real_path import add_unchanged_sft_adapter

    from sit.evaluation.compare import compare

    ws = start("demo", str(tmp_path), verbose=False)
    spec = ws.registry.get(QWEN)
    add_unchanged_sft_adapter(ws, QWEN)
    result = evaluate(ws, QWEN, benchmarks="mmlu", progress=False)
    assert result.stages == ["base", "sft"] and result.skipped == {"dpo": f"no finished adapter at "
                                                                          f"{ws.workspace.root / 'models' / spec.slug / 'dpo'}"}
    delta = next(d for d in compare(ws).deltas if d["stage"] == "sft" and d["benchmark"] == "mmlu")
    assert delta["n"] == 40 and delta["delta"] == 0 == delta["ci_low"] == delta["ci_high"]
    # a toy model may answer one letter to every question: then there is no verdict at all, and the note says why
    assert delta["verdict"] == "no significant change" or (delta["verdict"] == "degenerate"
                                                           and "answers " in delta["note"]), delta
