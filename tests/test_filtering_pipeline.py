"""The pipeline: attribution, report arithmetic, selection, the registry, config validation, file I/O."""

from __future__ import annotations

import json
import warnings

import matplotlib
import pytest

from sit.config import ConfigError
from sit.filtering import (
    FILTERS,
    Param,
    filter_config,
    filter_file,
    read_records,
    register_filter,
    rejected_examples,
    report_table,
    run_filters,
)
from sit.store import ArtifactError, TornLineWarning, read_jsonl

matplotlib.use("Agg")

TOPICS = [
    ("Explain how a rainbow forms after a summer storm.",
     "A rainbow forms when sunlight enters raindrops, bends, reflects off the back of each drop and bends "
     "again on the way out. Because each colour bends by a slightly different amount, the light spreads "
     "into a band of colours, with red on the outside and violet on the inside."),
    ("Suggest three names for a bakery that sells sourdough.",
     "Here are three ideas that hint at slow fermentation and a friendly neighbourhood feel: The Rising "
     "Crumb, Wild Yeast Corner, and Mother Dough Bakehouse. Each one is short, easy to remember and works "
     "well on a sign or a paper bag."),
    ("What are the main differences between Python lists and tuples?",
     "Lists are mutable, so you can add, remove or change their items after creating them, while tuples "
     "are immutable. Tuples are slightly faster and can be used as dictionary keys, which makes them a "
     "good choice for fixed records such as coordinates or database rows."),
    ("Give me a simple plan to start running three times a week.",
     "Start with twenty minutes of alternating one minute of easy running and two minutes of walking. "
     "Each week, add a minute of running to every block until you can run for twenty minutes without "
     "stopping. Rest a day between sessions and buy shoes that fit well."),
    ("Write a haiku about the first snow of winter in a quiet village.",
     "Here is a haiku that tries to capture the hush of a village under fresh snow, with the sound of the "
     "world muffled and only a bell in the distance: Roofs wear white silence, one bell from the chapel "
     "tower, footprints fill and fade."),
    ("How should I store fresh herbs so they last longer in the fridge?",
     "Treat soft herbs like basil, parsley and coriander like flowers: trim the stems and stand them in a "
     "glass of water, loosely covered with a bag. Wrap hardy herbs such as rosemary and thyme in a damp "
     "paper towel and keep them in a container in the fridge drawer."),
]


def clean(i: int, extra_words: int = 0) -> dict:
    instruction, response = TOPICS[i]
    return {"id": f"ok{i}", "instruction": instruction,
            "response": response + " More detail follows here." * extra_words,
            "finish_reason": {"instruction": "stop", "response": "stop"}}


def problems() -> list[dict]:
    return [
        {"id": "cut", "instruction": "Write a poem about the sea and the", "response": TOPICS[0][1]},
        {"id": "short", "instruction": "Tell me a fun fact about octopuses.", "response": "They have three hearts."},
        {"id": "loop", "instruction": "Describe your favourite season of the year.",
         "response": "I love autumn because the leaves turn red. " * 8},
        {"id": "refuse", "instruction": "Help me write a birthday message for my aunt.",
         "response": "I'm sorry, but I can't help with that. " + TOPICS[1][1]},
        {"id": "french", "instruction": "Explique-moi comment se forme un arc-en-ciel.",
         "response": "Un arc-en-ciel se forme lorsque la lumière du soleil traverse les gouttes de pluie, "
                     "se réfléchit à l'intérieur de chaque goutte et se disperse en plusieurs couleurs."},
        {"id": "dup", "instruction": "Please explain how a rainbow forms after a summer storm.",  # Jaccard 0.87
         "response": TOPICS[2][1]},
        {"id": "empty", "instruction": "Give me a motivational quote for Monday.", "response": "",
         "finish_reason": {"instruction": "stop", "response": "stop"}},
    ]


EXPECTED = {"cut": "incomplete", "short": "length", "loop": "repetition", "refuse": "refusal",
            "french": "language", "dup": "near_duplicate", "empty": "incomplete"}


def mixed() -> list[dict]:
    return [clean(i) for i in range(len(TOPICS))] + problems()


def test_each_problem_is_removed_by_its_filter_and_the_rest_kept():
    result = run_filters(mixed(), {"selection": "all"})
    assert {r["id"]: r["rejection"]["filter"] for r in result.rejected} == EXPECTED
    assert [r["id"] for r in result.kept] == [f"ok{i}" for i in range(len(TOPICS))]
    assert result.kept[0] == clean(0)  # records unchanged
    duplicate = next(r for r in result.rejected if r["id"] == "dup")["rejection"]
    assert duplicate["duplicate_of"] == "ok0" and duplicate["jaccard"] >= 0.8


def test_report_arithmetic():
    result = run_filters(mixed(), {"target": 4})
    report = result.report
    removed = [step["removed"] for step in report["filters"]]
    assert report["input"] == 13 and report["output"] == 4 == len(result.kept)
    assert sum(removed) + report["selection"]["dropped"] == report["input"] - report["output"]
    assert len(result.kept) + len(result.rejected) == report["input"]
    assert all(step["solo"] >= step["removed"] for step in report["filters"])
    remaining = report["input"]
    for step in report["filters"]:
        remaining -= step["removed"]
        assert step["remaining"] == remaining
    assert report["passed_filters"] == remaining == report["selection"]["candidates"]
    # the empty response is caught by `incomplete` first; `length` would also catch it alone
    length = next(step for step in report["filters"] if step["filter"] == "length")
    assert length["solo"] == length["removed"] + 1


def test_pipeline_order_decides_attribution():
    default = run_filters(mixed(), {"selection": "all"})
    reordered = run_filters(mixed(), {"selection": "all", "pipeline": ["length", "incomplete", "repetition",
                                                                       "refusal", "language", "near_duplicate"]})
    by_id = {r["id"]: r["rejection"]["filter"] for r in reordered.rejected}
    assert by_id["empty"] == "length"
    assert [step["filter"] for step in reordered.report["filters"]][:2] == ["length", "incomplete"]
    assert [r["id"] for r in default.kept] == [r["id"] for r in reordered.kept]


def test_only_the_configured_filters_run():
    result = run_filters(mixed(), {"pipeline": ["length"], "selection": "all"})
    assert {r["id"] for r in result.rejected} == {"short", "empty"}
    assert [step["filter"] for step in result.report["filters"]] == ["length"]


# --------------------------------------------------------------------------- selection


def test_selection_longest_keeps_the_longest_responses_in_input_order():
    records = [clean(i, extra_words=i % 3) for i in range(len(TOPICS))]
    lengths = {r["id"]: len(r["response"].split()) for r in records}
    result = run_filters(records, {"target": 2, "selection": "longest"})
    kept = [r["id"] for r in result.kept]
    assert kept == sorted(kept)
    assert sorted(lengths[k] for k in kept) == sorted(lengths.values())[-2:]
    assert result.report["selection"]["min_response_words"] == min(lengths[k] for k in kept)
    dropped = [r for r in result.rejected if r["rejection"]["filter"] == "selection"]
    assert len(dropped) == len(records) - 2 and "longest" in dropped[0]["rejection"]["reason"]


def test_selection_random_is_seeded():
    records = [clean(i) for i in range(len(TOPICS))]
    picks = {seed: [r["id"] for r in run_filters(records, {"target": 3, "selection": "random"}, seed).kept]
             for seed in range(8)}
    assert picks[0] == [r["id"] for r in run_filters(records, {"target": 3, "selection": "random"}, 0).kept]
    assert len({tuple(p) for p in picks.values()}) > 1
    assert all(len(p) == 3 for p in picks.values())


def test_selection_all_and_shortfall():
    records = [clean(i) for i in range(len(TOPICS))]
    assert len(run_filters(records, {"target": 2, "selection": "all"}).kept) == len(TOPICS)
    assert len(run_filters(records, {"target": None}).kept) == len(TOPICS)
    short = run_filters(records, {"target": 10}).report["selection"]
    assert short["selected"] == len(TOPICS) and short["shortfall"] == 10 - len(TOPICS)


# --------------------------------------------------------------------------- registry and config


@pytest.fixture
def digits_filter():
    @register_filter("no_digits_test", params={"max_digits_test": Param(0, int, minimum=0)})
    def no_digits(records, config):
        """Instructions with more digits than allowed."""
        counts = [sum(ch.isdigit() for ch in r["instruction"]) for r in records]
        return [{"reason": f"{n} digits"} if n > config["max_digits_test"] else None for n in counts]

    yield "no_digits_test"
    del FILTERS["no_digits_test"]


def test_a_registered_filter_runs_from_config(digits_filter):
    records = [clean(0), {**clean(1), "id": "digits", "instruction": TOPICS[1][0] + " Give 3 options."}]
    result = run_filters(records, {"pipeline": [digits_filter], "selection": "all"})
    assert [r["id"] for r in result.rejected] == ["digits"]
    assert result.report["filters"][0]["description"] == "Instructions with more digits than allowed."
    assert run_filters(records, {"pipeline": [digits_filter], "max_digits_test": 1}).rejected == []
    with pytest.raises(ConfigError, match="max_digits_test: -1 is below the minimum"):
        filter_config(overrides={"max_digits_test": -1})


def test_registering_twice_or_reusing_a_parameter_fails(digits_filter):
    with pytest.raises(ValueError, match="already registered"):
        register_filter(digits_filter)(lambda records, config: [])
    with pytest.raises(ValueError, match="already belong"):
        register_filter("other_test", params={"max_digits_test": Param(1, int)})(lambda records, config: [])
    assert "other_test" not in FILTERS


@pytest.mark.parametrize("overrides, message", [
    ({"pipeline": ["length", "spelling"]}, r"unknown filter\(s\) 'spelling' \(registered filters: .*near_duplicate"),
    ({"pipeline": ["length", "length"]}, "listed twice: length"),
    ({"response_min_words": 600}, r"response_min_words \(600\) is greater than response_max_words \(500\)"),
    ({"response_min_words": -1}, "below the minimum 0"),
    ({"target": 0}, "below the minimum 1"),
    ({"target": "many"}, "expected an integer"),
    ({"response_max_words": True}, "expected an integer"),
    ({"max_repeated_ngram_fraction": 2}, "above the maximum 1.0"),
    ({"selection": "best"}, "not one of longest, random, all"),
    ({"pipeline": "length"}, "expected a list"),
    ({"refusal_extra_phrases": [1]}, "list of strings"),
    ({"jacard_threshold": 0.7}, "unknown filtering setting.s. 'jacard_threshold'"),
])
def test_config_errors_say_what_to_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        filter_config(overrides=overrides)


def test_config_layers_and_profile_section():
    profile = {"target": 80, "selection": "longest", "response_min_words": 20, "response_max_words": 120,
               "instruction_min_words": 3, "jaccard_threshold": 0.8}
    config = filter_config(profile, {"target": 5})
    assert config["target"] == 5 and config["response_max_words"] == 120
    assert config["max_repeated_ngram_fraction"] == 0.3  # default for a key the profile does not set
    assert filter_config(config) == config  # a complete config passes through unchanged
    assert isinstance(filter_config(overrides={"jaccard_threshold": 1})["jaccard_threshold"], float)


def test_run_filters_rejects_malformed_records():
    with pytest.raises(ValueError, match="record 1: 'response' must be a string"):
        run_filters([clean(0), {"id": 2, "instruction": "x", "response": None}])
    with pytest.raises(ValueError, match="record 1: duplicate id 'ok0'"):
        run_filters([clean(0), clean(0)])


# --------------------------------------------------------------------------- files


def write_lines(path, lines: list[str], newline_at_end: bool = True) -> None:
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""), encoding="utf-8")


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", "not valid JSON"),
    ('{"id": 9, "response": "text"}', "record has no 'instruction' field"),
    ('{"id": 9, "instruction": "text", "response": 42}', "'response' must be a string, got int"),
    ('["a", "list"]', "expected a JSON object, got list"),
    ('{"id": "ok0", "instruction": "a", "response": "b"}', "duplicate id 'ok0' \\(first at line 1\\)"),
])
def test_invalid_lines_name_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "raw.jsonl"
    write_lines(path, [json.dumps(clean(0)), json.dumps(clean(1)), bad_line, json.dumps(clean(2))])
    with pytest.raises(ArtifactError, match=f"{path}: line 3: {message}"):
        read_records(path)
    records, invalid = read_records(path, skip_invalid=True)
    assert [r["id"] for r in records] == ["ok0", "ok1", "ok2"]
    assert len(invalid) == 1 and invalid[0]["line"] == 3


def test_torn_last_line_is_dropped_with_a_warning_or_counted(tmp_path):
    path = tmp_path / "raw.jsonl"
    write_lines(path, [json.dumps(clean(0)), '{"id": "torn", "instr'], newline_at_end=False)
    with pytest.warns(TornLineWarning):
        records, invalid = read_records(path)
    assert [r["id"] for r in records] == ["ok0"] and invalid == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records, invalid = read_records(path, skip_invalid=True)
    assert invalid[0]["line"] == 2


def test_filter_file_writes_everything_and_is_deterministic(tmp_path):
    raw = tmp_path / "raw.jsonl"
    write_lines(raw, [json.dumps(r) for r in mixed()] + ["not json"])
    out = tmp_path / "out"
    result = filter_file(raw, out, {"target": 3}, seed=1, skip_invalid=True)
    report = json.loads((out / "report.json").read_text())
    assert report["invalid_lines_skipped"] == 1 and report["invalid_lines"][0]["line"] == 14
    assert report["input"] == 13 and report["output"] == 3
    kept = [json.loads(line) for line in (out / "filtered.jsonl").read_text().splitlines()]
    assert kept == result.kept
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 10 and all("filter" in r["rejection"] and "reason" in r["rejection"] for r in rejected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["phase"] == "filtering" and manifest["counts"]["output"] == 3 and manifest["seed"] == 1
    before = {name: (out / name).read_bytes() for name in ("filtered.jsonl", "rejected.jsonl", "report.json")}
    filter_file(raw, out, {"target": 3}, seed=1, skip_invalid=True)
    assert {name: (out / name).read_bytes() for name in before} == before


def test_empty_input_gives_empty_outputs(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text("", encoding="utf-8")
    result = filter_file(raw, tmp_path / "out", seed=0)
    assert result.kept == [] and result.rejected == []
    assert result.report["input"] == 0 and result.report["output"] == 0
    assert all(step["removed"] == 0 for step in result.report["filters"])
    assert (tmp_path / "out" / "filtered.jsonl").read_text() == ""


def test_missing_input_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="input file not found"):
        filter_file(tmp_path / "nope.jsonl", tmp_path / "out")


# --------------------------------------------------------------------------- tables and plots


def test_report_table_and_examples():
    result = run_filters(mixed(), {"target": 4})
    table = report_table(result.report)
    assert list(table["step"]) == [*result.report["pipeline"], "selection"]
    assert table["removed"].sum() == result.report["input"] - result.report["output"]
    assert table.loc[table["step"] == "length", "alone"].item() == 2
    examples = rejected_examples(result.rejected, per_filter=1)
    assert list(examples["filter"]) == ["incomplete", "refusal", "repetition", "language", "length",
                                        "near_duplicate", "selection"]
    assert examples.loc[examples["filter"] == "near_duplicate", "reason"].item().startswith("near-duplicate of ok0")
    assert len(rejected_examples(result.rejected, per_filter=5).query("filter == 'incomplete'")) == 2


def test_plots():
    from sit.filtering import plot_length_histograms, plot_removals

    result = run_filters(mixed(), {"target": 4})
    ax = plot_removals(result.report)
    assert len(ax.patches) == 2 * len(result.report["filters"])
    assert [p.get_height() for p in ax.patches[:len(result.report["filters"])]] == [
        step["removed"] for step in result.report["filters"]]
    fig = plot_length_histograms(mixed(), result.kept)
    assert [a.get_xlabel() for a in fig.axes] == ["instruction length (words)", "response length (words)"]


def test_every_filter_has_work_on_the_toy_worlds_raw_set(toy_world, tmp_path):
    """What notebook 02 shows in the demo: the toy generator's raw set (demo profile, its default size)
    gives every filter something to remove, and enough passes for the profile's target.

    Sampled text differs between CPUs, so this asserts what the corpus plants, not one machine's counts.
    Every filter finds work on its own (``solo``). In pipeline order every filter but repetition removes
    something too: a greedy answer that loops mostly runs to the token limit, and `incomplete` (first in
    the pipeline) takes it, so on some CPUs no loop is left for `repetition` (seen: 0 with AVX-512)."""
    from sit.filtering import filter_workspace
    from sit.generation.magpie import generate
    from sit.session import start

    session = start("demo", str(tmp_path), verbose=False)
    generate(session, progress=False)
    report = filter_workspace(session).report
    alone = {step["filter"]: step["solo"] for step in report["filters"]}
    assert all(count > 0 for count in alone.values()), alone
    removed = {step["filter"]: step["removed"] for step in report["filters"] if step["filter"] != "repetition"}
    assert all(count > 0 for count in removed.values()), removed
    assert report["selection"]["shortfall"] == 0
    duplicates = [r for r in read_jsonl(session.workspace.filtered_dir / "rejected.jsonl")
                  if r["rejection"]["filter"] == "near_duplicate"]
    assert any(r["rejection"]["jaccard"] < 1.0 for r in duplicates)  # near, not only exact, copies
