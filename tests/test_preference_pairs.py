"""Preference pairs without models: selection rules, the pairs files, missing inputs, refuse-to-mix."""

import json

import pytest

from sit.config import ConfigError
from sit.preference import build_pairs
from sit.preference.inputs import preference_settings
from sit.preference.pairs import Candidate, choose, margin_stats, select_pairs
from sit.preference.responses import check_resume, completion_prompt, stop_strings
from sit.preference.scoring import GENERATOR_SLUG, reward_fingerprint
from sit.session import start
from sit.store import read_jsonl, write_jsonl_atomic

TARGETS = ["meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"]
SLUGS = ["llama-3.2-3b", "mistral-7b-v0.1", "qwen2.5-3b"]
GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"


def c(model, text, score):
    return Candidate(model, text, score)


# --------------------------------------------------------------------------- one instruction


def test_highest_score_is_chosen_and_lowest_rejected():
    chosen, rejected = choose([c("a", "ok", 0.5), c("b", "best", 2.0), c("c", "worst", -1.0)], 0.0)
    assert (chosen.model, rejected.model) == ("b", "c")


@pytest.mark.parametrize("candidates, reason", [
    ([c("a", "same", 1.0), c("b", "other", 1.0)], "tie"),
    ([c("a", "Same  text\n", 1.0), c("b", " Same text", -1.0)], "identical_texts"),
    ([c("a", "answer", 1.0), c("b", "  \n", -3.0)], "empty_response"),
    ([c("a", "", 1.0), c("b", "", -3.0)], "empty_response"),
    ([c("a", "answer", 1.0)], "single_candidate"),
    ([], "single_candidate"),
    ([c("a", "x", 1.0), c("b", "y", 0.9)], "low_margin"),
])
def test_instructions_without_a_usable_pair_are_skipped_with_the_reason(candidates, reason):
    assert choose(candidates, min_margin=0.5) == reason


def test_an_empty_answer_is_dropped_but_the_others_still_pair():
    chosen, rejected = choose([c("a", "good", 2.0), c("b", "", 5.0), c("c", "bad", -1.0)], 0.0)
    assert (chosen.model, rejected.model) == ("a", "c")  # the empty answer's high score does not win


def test_margin_equal_to_the_minimum_is_kept():
    assert not isinstance(choose([c("a", "x", 1.5), c("b", "y", 1.0)], min_margin=0.5), str)


# --------------------------------------------------------------------------- many instructions


def _items(n):
    return [{"id": f"i{k}", "instruction": f"question {k}"} for k in range(n)]


def test_pairs_are_ranked_by_margin_and_cut_at_the_target():
    items = _items(6)
    margins = [0.5, 3.0, 1.0, 0.0, 2.0, 4.0]  # i3 is a tie
    candidates = {f"i{k}": [c("a", f"a{k}", m), c("b", f"b{k}", 0.0)] for k, m in enumerate(margins)}
    selection = select_pairs(items, candidates, min_margin=0.0, target_pairs=3)
    assert [p["id"] for p in selection.pairs] == ["i5", "i1", "i4"]
    assert selection.eligible == 5 and selection.beyond_target == 2 and selection.skipped == {"tie": 1}
    first = selection.pairs[0]
    assert first["prompt"] == [{"role": "user", "content": "question 5"}]
    assert first["chosen"] == [{"role": "assistant", "content": "a5"}]
    assert first["rejected"] == [{"role": "assistant", "content": "b5"}]
    assert (first["chosen_model"], first["rejected_model"], first["margin"], first["n_candidates"]) == ("a", "b", 4.0, 2)
    assert margin_stats(selection.pairs) == {"min": 2.0, "mean": 3.0, "median": 3.0, "max": 4.0}
    with pytest.raises(ValueError, match="target_pairs must be > 0"):
        select_pairs(items, candidates, min_margin=0.0, target_pairs=0)


def test_equal_margins_are_ordered_by_id_so_the_cut_is_reproducible():
    items = _items(4)
    candidates = {f"i{k}": [c("a", "x", 1.0), c("b", "y", 0.0)] for k in range(4)}
    assert [p["id"] for p in select_pairs(items[::-1], candidates, min_margin=0, target_pairs=2).pairs] == ["i0", "i1"]


# --------------------------------------------------------------------------- prompts and settings


def test_base_model_prompt_prepends_bos_and_fills_the_format():
    alpaca = "### Instruction:\n{instruction}\n\n### Response:\n"
    assert completion_prompt(alpaca, "Use {braces}?", "<s>") == "<s>### Instruction:\nUse {braces}?\n\n### Response:\n"
    assert completion_prompt("<|im_start|>user\n{instruction}<|im_end|>\n", "Hi", None) == "<|im_start|>user\nHi<|im_end|>\n"
    assert stop_strings(alpaca) == ("### Instruction",)
    assert stop_strings("<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n") == ()


@pytest.mark.parametrize("override, message", [
    ({"batch_size": 0}, "batch_size must be a whole number > 0"),
    ({"target_pairs": 2.5}, "target_pairs must be a whole number > 0"),
    ({"min_margin": -1}, "min_margin must be a number >= 0"),
    ({"temperature": 1.0}, "unknown preference setting"),
])
def test_bad_settings_are_clear_errors(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        preference_settings(start("demo", str(tmp_path), verbose=False), override)


def test_a_file_from_another_model_or_other_settings_or_instructions_is_refused(tmp_path):
    path = tmp_path / "llama-3.2-3b.jsonl"
    gen = {"model": TARGETS[0], "max_new_tokens": 160, "temperature": 0.0}
    stored = [{"id": "i0", "instruction": "question 0", "gen": gen}]
    check_resume(path, stored, gen, {"i0": "question 0"})  # same settings: fine
    other_model = dict(gen, model=TARGETS[1])
    with pytest.raises(ConfigError, match=r"other settings \(model: 'meta-llama/Llama-3.2-3B' -> 'mistralai.*delete"):
        check_resume(path, stored, other_model, {"i0": "question 0"})
    with pytest.raises(ConfigError, match=r"max_new_tokens: 160 -> 64.*To start fresh, delete .*llama-3.2-3b.jsonl"):
        check_resume(path, stored, dict(gen, max_new_tokens=64), {"i0": "question 0"})
    with pytest.raises(ConfigError, match="'i0' is for another instruction.*filtered set changed"):
        check_resume(path, stored, gen, {"i0": "a new question"})


# --------------------------------------------------------------------------- the pairs files


def _session(tmp_path, **overrides):
    """The targets' answers only, unless a test adds the generator's."""
    overrides = {"include_generator_response": False, **overrides}
    return start("demo", str(tmp_path), 42, {f"preference.{k}": v for k, v in overrides.items()}, verbose=False)


def _write_filtered(session, n):
    records = [{"id": f"magpie-{k:05d}", "instruction": f"Explain topic number {k}.", "response": f"Magpie answer {k}.",
                "generator": GENERATOR} for k in range(n)]
    write_jsonl_atomic(session.workspace.filtered_dir / "filtered.jsonl", records)
    return records


def _write_scored(session, slug, model, filtered, score_of, scored_with=None):
    scored_with = scored_with or reward_fingerprint(session, preference_settings(session))
    records = [{"id": r["id"], "instruction": r["instruction"], "response": f"{model} says {k}", "model": model,
                "score": score_of(k), "scored_with": scored_with} for k, r in enumerate(filtered)]
    write_jsonl_atomic(session.workspace.responses_file(slug), records)


def test_missing_filtered_set_names_notebook_02_and_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no filtered instructions at .*data/filtered/filtered.jsonl\. "
                                                r"Run notebook 02"):
        build_pairs(_session(tmp_path), verbose=False)


def test_fewer_than_two_scored_models_says_what_is_missing(tmp_path, capsys):
    session = _session(tmp_path)
    filtered = _write_filtered(session, 4)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, float)
    _write_scored(session, SLUGS[1], TARGETS[1], filtered[:3], float)  # one answer short
    result = build_pairs(session)
    assert not result.ready and result.pairs == []
    assert result.missing == {TARGETS[1]: "answers missing for 1 of 4 instructions", TARGETS[2]: "no answers yet"}
    printed = capsys.readouterr().out
    assert "at least 2 models; ready: meta-llama/Llama-3.2-3B" in printed and "Qwen/Qwen2.5-3B: no answers yet" in printed
    assert not (session.workspace.preference_dir / "pairs.jsonl").exists()


def test_answers_scored_with_other_reward_settings_do_not_count(tmp_path):
    session = _session(tmp_path)
    filtered = _write_filtered(session, 3)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, float)
    stale = dict(reward_fingerprint(session, preference_settings(session)), max_length=128)
    _write_scored(session, SLUGS[1], TARGETS[1], filtered, float, scored_with=stale)
    result = build_pairs(session, verbose=False)
    assert not result.ready and result.missing[TARGETS[1]] == "3 answers not scored with the current reward settings"


def test_pairs_files_report_and_manifest_and_a_repeat_writes_the_same_pairs(tmp_path):
    session = _session(tmp_path, target_pairs=5)
    filtered = _write_filtered(session, 8)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, lambda k: float(k))          # wins, margin grows with k
    _write_scored(session, SLUGS[1], TARGETS[1], filtered, lambda k: 0.0)  # i0 ties with llama
    result = build_pairs(session, verbose=False)
    assert result.ready and len(result.pairs) == 5
    folder = session.workspace.preference_dir
    lines = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
    assert lines == result.pairs and [p["id"] for p in lines] == [f"magpie-{k:05d}" for k in (7, 6, 5, 4, 3)]
    report = json.loads((folder / "report.json").read_text())
    assert report["instructions"] == 8 and report["pairs_kept"] == 5 and report["pairs_eligible"] == 7
    assert report["skipped"]["tie"] == 1 and report["beyond_target"] == 2
    assert report["chosen"] == {TARGETS[0]: 5, TARGETS[1]: 0} and report["rejected"] == {TARGETS[0]: 0, TARGETS[1]: 5}
    assert report["margin"]["max"] == 7.0 and report["sources_missing"] == {TARGETS[2]: "no answers yet"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["phase"] == "03_preference_data" and manifest["counts"] == {"instructions": 8, "pairs": 5}
    before = (folder / "pairs.jsonl").read_bytes()
    build_pairs(session, verbose=False)
    assert (folder / "pairs.jsonl").read_bytes() == before


def test_a_third_model_changes_the_pairs_and_counts_three_candidates(tmp_path):
    session = _session(tmp_path)
    filtered = _write_filtered(session, 4)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, lambda k: 1.0)
    _write_scored(session, SLUGS[1], TARGETS[1], filtered, lambda k: 0.0)
    assert {p["rejected_model"] for p in build_pairs(session, verbose=False).pairs} == {TARGETS[1]}
    _write_scored(session, SLUGS[2], TARGETS[2], filtered, lambda k: -1.0)
    pairs = build_pairs(session, verbose=False).pairs
    assert {p["rejected_model"] for p in pairs} == {TARGETS[2]} and {p["n_candidates"] for p in pairs} == {3}


def test_the_generators_answer_is_a_candidate_only_when_enabled(tmp_path):
    session = _session(tmp_path)
    filtered = _write_filtered(session, 3)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, lambda k: 1.0)
    _write_scored(session, SLUGS[1], TARGETS[1], filtered, lambda k: 0.0)
    _write_scored(session, GENERATOR_SLUG, GENERATOR, filtered, lambda k: 5.0)
    assert {p["chosen_model"] for p in build_pairs(session, verbose=False).pairs} == {TARGETS[0]}
    on = _session(tmp_path, include_generator_response=True)
    pairs = build_pairs(on, verbose=False).pairs
    assert {p["chosen_model"] for p in pairs} == {GENERATOR} and {p["n_candidates"] for p in pairs} == {3}
    report = json.loads((session.workspace.preference_dir / "report.json").read_text())
    assert report["chosen"][GENERATOR] == 3 and GENERATOR in report["models_used"]


def test_the_generator_alone_with_one_target_is_enough_when_enabled(tmp_path):
    session = _session(tmp_path, include_generator_response=True)
    filtered = _write_filtered(session, 2)
    _write_scored(session, SLUGS[0], TARGETS[0], filtered, lambda k: 1.0)
    assert not build_pairs(session, verbose=False).ready  # the generator's answers are not scored yet
    _write_scored(session, GENERATOR_SLUG, GENERATOR, filtered, lambda k: -1.0)
    result = build_pairs(session, verbose=False)
    assert result.ready and read_jsonl(result.path)[0]["rejected_model"] == GENERATOR
