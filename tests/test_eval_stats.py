"""Evaluation logic without models: paired bootstrap, judge prompts and rating parser, retry, MT-Bench data,
benchmark registry, results table and comparison."""

import math
import random
import statistics

import numpy as np
import pytest

from sit.config import ConfigError
from sit.evaluation.benchmarks import BENCHMARKS, Benchmark, knobs, parse_benchmarks, register_benchmark
from sit.evaluation.bootstrap import aggregate, paired_bootstrap, stderr
from sit.evaluation.judge_prompts import judge_messages, load_prompts, parse_rating, prompt_name, shorten
from sit.evaluation.judging import RetryOnce
from sit.evaluation.mtbench_data import CATEGORIES, read_judge_prompts, read_questions, temperature
from sit.inference.engine import Completion, Prompt, SamplingSettings
from sit.session import start

# ---------------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_of_a_constant_shift_is_exact():
    base = {f"q{i}": float(i % 2) for i in range(50)}
    other = {k: v + 0.25 for k, v in base.items()}
    d = paired_bootstrap(base, other, samples=500, seed=1)
    assert d.delta == pytest.approx(0.25) and d.low == pytest.approx(0.25) and d.high == pytest.approx(0.25)
    assert d.verdict == "improved" and d.n == 50


def test_paired_bootstrap_matches_the_normal_interval_of_paired_differences():
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, 400)
    diff = rng.normal(0.1, 0.5, 400)  # paired: the stage's score is the base's plus a small noisy gain
    base = {i: float(x) for i, x in enumerate(a)}
    other = {i: float(x + d) for i, (x, d) in enumerate(zip(a, diff, strict=True))}
    d = paired_bootstrap(base, other, samples=4000, seed=5)
    half = 1.96 * np.std(diff, ddof=1) / math.sqrt(400)
    assert d.delta == pytest.approx(diff.mean())
    assert d.low == pytest.approx(diff.mean() - half, abs=0.01) and d.high == pytest.approx(diff.mean() + half, abs=0.01)
    # an unpaired view of the same data (ignoring the pairing) would be about twice as wide
    assert (d.high - d.low) < 0.6 * 2 * 1.96 * math.sqrt((np.var(a) + np.var(a + diff)) / 400)


def test_paired_bootstrap_verdicts_and_same_seed_same_interval():
    base = {i: 1.0 if i % 2 else 0.0 for i in range(40)}
    worse = {i: 0.0 for i in range(40)}
    same = dict(base)
    assert paired_bootstrap(base, worse, samples=300, seed=0).verdict == "worse"
    assert paired_bootstrap(base, same, samples=300, seed=0).verdict == "no significant change"
    noisy = {i: float(random.Random(i).random() < 0.6) for i in range(40)}
    assert paired_bootstrap(base, noisy, seed=9) == paired_bootstrap(base, noisy, seed=9)
    with pytest.raises(ValueError, match="share no item"):
        paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_list_metrics_are_a_ratio_of_sums_only_over_shared_items():
    base = {"p1": [1.0, 0.0, 0.0], "p2": [1.0], "p3": [0.0, 0.0]}
    other = {"p1": [1.0, 1.0, 1.0], "p2": [1.0], "extra": [1.0]}
    assert aggregate(list(base.values())) == pytest.approx(2 / 6)
    d = paired_bootstrap(base, other, samples=200, seed=2)
    assert d.n == 2 and d.delta == pytest.approx(4 / 4 - 2 / 4)
    assert (d.base_mean, d.other_mean, d.dropped) == (pytest.approx(2 / 4), pytest.approx(4 / 4), 2)
    assert stderr([1.0, 0.0, 1.0, 1.0]) == pytest.approx(statistics.stdev([1, 0, 1, 1]) / 2)


# ---------------------------------------------------------------- judge prompts and ratings


@pytest.mark.parametrize("text, rating", [
    ("The answer is fine. Rating: [[8]]", 8.0),
    ("Rating: [[8.5]]", 8.5),
    ("[[10]]", 10.0),
    ("[[1]] is my rating", 1.0),
    ("Overall I give it [7] out of 10.", 7.0),  # FastChat's backup pattern, single brackets
    ("[[3]] then later [5]", 3.0),  # the double-bracket form wins
    ("Rating: [[6.]]", 6.0),
])
def test_rating_forms_that_fastchat_parses(text, rating):
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", ["Rating: 8", "I would rate it eight.", "[[N/A]]", "", "[[0]]", "[[11]]",
                                  "Rating: [[-3]]"])
def test_unparsable_or_out_of_scale_ratings_are_none(text):
    assert parse_rating(text) is None


def test_fastchat_prompts_come_from_the_wheel_and_render_every_form():
    table = read_judge_prompts()
    assert {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"} <= set(table)
    prompts = load_prompts("fastchat")
    one = judge_messages(prompts["single-v1"], ["Q1?"], ["A1."])
    assert one[0]["content"] == "You are a helpful assistant." and "[Question]\nQ1?" in one[1]["content"]
    assert "Rating: [[5]]" in one[1]["content"] and "A1." in one[1]["content"]
    math_one = judge_messages(prompts["single-math-v1"], ["Q1?"], ["A1."], ["R1."])
    assert "[The Start of Reference Answer]\nR1." in math_one[1]["content"]
    multi = judge_messages(prompts["single-math-v1-multi-turn"], ["Q1?", "Q2?"], ["A1.", "A2."], ["R1.", "R2."])
    assert "### Reference answer:\nR2." in multi[1]["content"] and "### Assistant A:\nA2." in multi[1]["content"]
    assert "second" in multi[0]["content"]
    with pytest.raises(ConfigError, match="needs the field"):
        judge_messages(prompts["single-math-v1"], ["Q1?"], ["A1."])  # a reference-guided prompt without reference


def test_prompt_choice_follows_fastchat():
    assert prompt_name("writing", 1) == "single-v1" and prompt_name("math", 1) == "single-math-v1"
    assert prompt_name("coding", 2) == "single-math-v1-multi-turn" and prompt_name("stem", 2) == "single-v1-multi-turn"
    with pytest.raises(ConfigError, match="known: fastchat, short"):
        load_prompts("gpt4")


def test_short_prompts_keep_fastchats_layout_and_answers_are_cut_at_whole_sentences():
    short, full = load_prompts("short"), load_prompts("fastchat")
    for name, prompt in short.items():
        fields = set(__import__("re").findall(r"{(\w+)}", prompt.prompt_template))
        assert fields == set(__import__("re").findall(r"{(\w+)}", full[name].prompt_template)), name
    text = "One two three. Four five six seven. Eight nine ten eleven twelve."
    assert shorten(text, 8) == "One two three. Four five six seven."
    assert shorten(text, 2) == "One two"
    assert shorten(text, None) == text
    both = judge_messages(short["single-v1-multi-turn"], ["Q1?", "Q2?"], [text, text], max_answer_words=16)
    assert both[1]["content"].count("One two three. Four five six seven.\n") == 2  # 16 words shared by two answers


class Scripted:
    """A generation backend that returns queued texts (the retry logic is what is tested here)."""

    def __init__(self, texts):
        self.texts = list(texts)
        self.calls = []

    def count_tokens(self, text):
        return len(text)

    def generate(self, prompts, settings):
        self.calls.append(([p.id for p in prompts], settings.temperature))
        return [Completion(self.texts.pop(0), 3, "stop") for _ in prompts]


def test_a_judgment_without_rating_is_asked_again_once_sampled():
    backend = Scripted(["Good. Rating: [[7]]", "no rating here", "still none", "Rating: [[4]]", "nothing"] + ["x"])
    retry = SamplingSettings(max_new_tokens=8, temperature=0.7)
    wrapped = RetryOnce(backend, retry, seed=1)
    prompts = [Prompt(id=i, text="t", seed=0) for i in ("a", "b", "c")]
    out = wrapped.generate(prompts, SamplingSettings(max_new_tokens=8))
    assert [c.text for c in out] == ["Good. Rating: [[7]]", "Rating: [[4]]", "nothing"]
    assert backend.calls == [(["a", "b", "c"], 0.0), (["b", "c"], 0.7)]
    assert [len(wrapped.attempts[i]) for i in "abc"] == [1, 2, 2]


# ---------------------------------------------------------------- MT-Bench data


def test_mt_bench_questions_references_and_temperatures():
    questions = read_questions()
    assert len(questions) == 80 and [q["question_id"] for q in questions] == list(range(81, 161))
    assert {q["category"] for q in questions} == set(CATEGORIES)
    assert all(len(q["turns"]) == 2 for q in questions)
    with_ref = {q["question_id"] for q in questions if q["reference"]}
    assert set(range(101, 131)) <= with_ref
    assert {q["category"] for q in questions if q["question_id"] in range(101, 131)} == {"math", "reasoning", "coding"}
    few = read_questions(limit=2)
    assert len(few) == 16 and all(sum(q["category"] == c for q in few) == 2 for c in CATEGORIES)
    assert temperature("writing") == 0.7 and temperature("math") == 0.0 and temperature("stem") == 0.1


# ---------------------------------------------------------------- registry


def test_unknown_benchmark_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: ifeval, mmlu, mt_bench"):
        parse_benchmarks("ifeval,gsm8k")
    assert [b.name for b in parse_benchmarks("mmlu, ifeval,mmlu")] == ["mmlu", "ifeval"]


def test_profile_sections_set_every_knob_and_reject_unknown_ones():
    for profile in ("demo", "colab_t4"):
        section = start(profile, verbose=False, workspace=None).section("evaluation")
        for name in section["benchmarks"]:
            assert set(section[name]) == set(BENCHMARKS[name].knobs), (profile, name)
    with pytest.raises(ConfigError, match="unknown evaluation.ifeval setting.s. 'limt'"):
        knobs(BENCHMARKS["ifeval"], {"ifeval": {"limt": 3}})


def test_adding_a_benchmark_is_one_entry():
    entry = Benchmark(name="mmlu_nutrition", runner="lm_eval", label="MMLU nutrition", metrics=("acc",),
                      hub_tasks=("mmlu_nutrition",), local_task="mmlu_local.yaml", chat_template=False,
                      knobs={"tasks": "hub", "subjects": ["nutrition"], "limit": 5, "num_fewshot": 0, "batch_size": 4})
    register_benchmark(entry)
    try:
        assert parse_benchmarks("ifeval,mmlu_nutrition")[1] is entry
        from sit.evaluation.harness import task_specs

        assert task_specs(entry, knobs(entry, {})) == ["mmlu_nutrition"]
        local = task_specs(entry, knobs(entry, {"mmlu_nutrition": {"tasks": "local"}}))
        assert [c["task"] for c in local] == ["mmlu_local_nutrition"]
        assert local[0]["dataset_kwargs"]["data_files"]["dev"].endswith("data/mmlu_nutrition_dev.jsonl")
        with pytest.raises(ValueError, match="already registered"):
            register_benchmark(entry)
    finally:
        BENCHMARKS.pop("mmlu_nutrition")
