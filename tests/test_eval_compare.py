"""The results table and the comparison over a workspace (files written the way evaluate() writes them)."""

import csv
import math

import pytest

from sit.config import ConfigError
from sit.evaluation.benchmarks import BENCHMARKS
from sit.evaluation.compare import compare
from sit.evaluation.results import COLUMNS, metric_rows, read_table, results_path, store_results
from sit.evaluation.run import fingerprint
from sit.session import start

LLAMA, QWEN = "meta-llama/Llama-3.2-3B", "Qwen/Qwen2.5-3B"


@pytest.fixture
def session(tmp_path):
    return start("demo", str(tmp_path), verbose=False)


def put(session, model, stage, benchmark, scores: dict, settings=None):
    """Store one model stage's per-item scores of ``benchmark`` as evaluate() does."""
    spec = session.registry.get(model)
    bench = BENCHMARKS[benchmark]
    items = [{"id": k, "task": benchmark, "scores": {m: v for m in bench.metrics}, "adapter": None}
             for k, v in scores.items()]
    rows = metric_rows(model=spec.id, stage=stage, benchmark=benchmark, items=items, metrics=bench.metrics,
                       world=session.world_id, note="test")
    fp = fingerprint(session, bench, settings or {"limit": None})
    store_results(session, slug=spec.slug, model=spec.id, stage=stage, benchmark=benchmark, rows=rows,
                  items=items, fingerprint=fp)


def test_rows_are_replaced_per_model_stage_and_benchmark(session):
    put(session, LLAMA, "base", "mmlu", {f"q{i}": float(i % 2) for i in range(10)})
    put(session, LLAMA, "base", "mmlu", {f"q{i}": 1.0 for i in range(10)})
    put(session, QWEN, "base", "mmlu", {f"q{i}": 0.0 for i in range(4)})
    rows = read_table(results_path(session))
    assert [(r["model"], r["stage"], r["metric"], r["value"], r["n"]) for r in rows] == [
        (LLAMA, "base", "acc", 1.0, 10), (QWEN, "base", "acc", 0.0, 4)]
    header = results_path(session).read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)


def test_results_from_another_world_are_refused(session):
    put(session, LLAMA, "base", "mmlu", {"q1": 1.0})
    path = results_path(session)
    path.write_text(path.read_text().replace(session.world_id, "hub"))
    with pytest.raises(ConfigError, match="another world"):
        put(session, LLAMA, "sft", "mmlu", {"q1": 1.0})
    with pytest.raises(ConfigError, match="another world"):
        compare(session)


def test_a_results_file_with_a_wrong_header_names_the_file(session):
    path = results_path(session)
    path.parent.mkdir(parents=True, exist_ok=True)  # reading a workspace path creates nothing
    path.write_text("model,stage,score\nx,base,1\n")
    with pytest.raises(ConfigError, match=r"results\.csv: missing column"):
        read_table(path)


def test_comparison_deltas_verdicts_and_merged_tables(session):
    n = 60
    base = {f"q{i}": float(i % 4 == 0) for i in range(n)}  # 25 %
    sft = {f"q{i}": float(i % 4 != 3) for i in range(n)}  # 75 %: clearly better on the same items
    dpo = {f"q{i}": float(i % 4 == 0) for i in range(n)}  # identical to base
    for stage, scores in (("base", base), ("sft", sft), ("dpo", dpo)):
        put(session, LLAMA, stage, "mmlu", scores)
    put(session, QWEN, "base", "mmlu", base)
    put(session, QWEN, "sft", "mmlu", sft, settings={"limit": 5})  # other settings: not paired
    folder = session.workspace.evaluation_dir
    with open(folder / "stages.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share", "n"])
        writer.writerow([LLAMA, "base", -0.5, -0.8, -0.2, 0.4, 16])
        writer.writerow([LLAMA, "sft", 0.7, 0.4, 1.0, 0.9, 16])
    (folder / "agent").mkdir()
    (folder / "agent" / "results.csv").write_text(
        ",".join(COLUMNS) + f"\n{LLAMA},dpo,webshop,mean_reward,0.31,0.05,30,{session.world_id},,toy catalog\n")
    result = compare(session)
    by = {(d["model"], d["stage"], d["benchmark"]): d for d in result.deltas}
    sft_delta = by[(LLAMA, "sft", "mmlu")]
    assert sft_delta["delta"] == pytest.approx(0.5) and sft_delta["verdict"] == "improved"
    assert sft_delta["ci_low"] > 0 and sft_delta["n"] == n
    assert by[(LLAMA, "dpo", "mmlu")]["verdict"] == "no significant change"
    assert by[(LLAMA, "dpo", "mmlu")]["ci_low"] == 0 == by[(LLAMA, "dpo", "mmlu")]["ci_high"]
    assert by[(QWEN, "sft", "mmlu")]["verdict"] == "not tested"
    assert "different settings" in by[(QWEN, "sft", "mmlu")]["why"]
    reward = by[(LLAMA, "sft", "reward")]  # the training table has no items: a delta without a CI
    assert reward["delta"] == pytest.approx(1.2) and math.isnan(reward["ci_low"])
    table = {(r["model"], r["stage"]): r for r in result.table}
    assert table[(LLAMA, "sft")]["reward (held-out)"] == 0.7 and table[(LLAMA, "dpo")]["webshop mean_reward"] == 0.31
    summary = result.paths["summary"].read_text()
    assert "test the code path only" in summary and "improved (0.250 → 0.750, +0.500" in summary
    assert any(s.startswith(f"{LLAMA} SFT vs base: ") and "MMLU acc: improved" in s for s in result.sentences)
    assert (folder / "comparison.csv").exists() and (folder / "all_results.csv").exists()


def test_real_model_tables_show_the_specs_goals_and_name_the_judge():
    from sit.evaluation.compare import headline_table

    rows = [{"model": LLAMA, "stage": "base", "benchmark": b, "metric": m, "value": v, "stderr": 0.01, "n": 10,
             "world": "hub", "judge": j, "note": ""}
            for b, m, v, j in (("ifeval", "prompt_level_strict_acc", 0.3, ""), ("mt_bench", "score", 4.2, "J/judge"))]
    table = headline_table(rows, "hub")
    assert table[0]["MT-Bench (local judge J/judge)"] == 4.2
    assert table[-1]["model"] == "target (spec)" and "40 %" in table[-1]["IFEval prompt-strict (headline)"]
    assert "5.0" in table[-1]["MT-Bench (local judge J/judge)"]
    assert headline_table(rows, "toy:abc")[-1]["model"] == LLAMA  # no goals beside toy numbers


def test_a_change_is_printed_with_the_two_means_over_the_same_paired_items(session):
    """MT-Bench drops a turn whose judgment could not be parsed: the change is over the turns rated at both
    stages, and the means printed beside it are over those same turns (not over every rated turn)."""
    base = {f"t{i}": float(1 + i % 5) for i in range(40)}
    sft = {f"t{i}": float(2 + i % 5) for i in range(40) if i % 10}  # 4 turns unparsed at SFT
    put(session, LLAMA, "base", "mmlu", base)
    put(session, LLAMA, "sft", "mmlu", sft)
    result = compare(session)
    d = next(d for d in result.deltas if d["stage"] == "sft")
    assert d["n"] == 36 and d["dropped"] == 4 and "4 questions left out" in d["note"]
    assert d["value"] - d["base"] == pytest.approx(d["delta"]) == pytest.approx(1.0)
    assert d["base"] == pytest.approx(sum(base[k] for k in sft) / 36)  # base over the paired items only
    with open(result.paths["comparison"], newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["value"]) - float(row["base"]) == pytest.approx(float(row["delta"]), abs=1e-12)
    assert row["dropped"] == "4" and row["n"] == "36"
    line = next(line for line in result.paths["summary"].read_text().splitlines()
                if line.startswith(f"| {LLAMA} | sft | MMLU"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3:7] == ["36", f"{d['base']:.3f}", f"{d['value']:.3f}", f"{d['value'] - d['base']:+.3f}"]


def test_stages_csv_and_comparison_csv_print_one_interval_for_the_same_comparison(session):
    """The held-out reward change SFT vs base is computed by the training phase (stages.csv) and by the
    evaluation phase (comparison.csv): one routine, one seed, one number of resamples, one interval."""
    from sit.evaluation.compare import pair_delta
    from sit.evaluation.results import items_path
    from sit.evaluation.stage_rewards import _change
    from sit.store import write_jsonl_atomic

    spec = session.registry.get(LLAMA)
    scored = {(spec.id, "base"): {f"h{i}": float(i % 3) - 1.0 for i in range(16)},
              (spec.id, "sft"): {f"h{i}": float(i % 4) * 1.5 for i in range(16)}}
    for (_, stage), scores in scored.items():
        write_jsonl_atomic(items_path(session, spec.slug, stage, "reward"),
                           [{"id": k, "scores": {"mean_reward": v}, "fingerprint": {"same": 1}} for k, v in scores.items()])
    stages = _change(session, scored, spec.id, "sft")
    cfg = session.section("evaluation")
    delta, _ = pair_delta(session, spec.id, "sft", "reward", "mean_reward", samples=cfg["bootstrap_samples"],
                          confidence=cfg["confidence"])
    assert (stages["delta"], stages["delta_low"], stages["delta_high"]) == (delta.delta, delta.low, delta.high)
    assert stages["vs_mean"] == delta.base_mean and stages["stage_mean"] == delta.other_mean
    assert stages["paired_n"] == 16 and stages["dropped"] == 0


def test_a_change_that_involves_a_constant_answer_is_called_degenerate_not_judged(session):
    """An SFT model that answers C to every question of a balanced key scores 0.25 whatever it knows."""
    spec, bench = session.registry.get(LLAMA), BENCHMARKS["mmlu"]
    for stage, choices in (("base", [i % 4 for i in range(24)]), ("sft", [2] * 24)):
        items = [{"id": f"q{i}", "task": "mmlu", "scores": {"acc": float(c == (i + 1) % 4)}, "target": str((i + 1) % 4),
                  "choice": c, "adapter": None} for i, c in enumerate(choices)]
        rows = metric_rows(model=spec.id, stage=stage, benchmark="mmlu", items=items, metrics=bench.metrics,
                           world=session.world_id, note="test")
        store_results(session, slug=spec.slug, model=spec.id, stage=stage, benchmark="mmlu", rows=rows, items=items,
                      fingerprint=fingerprint(session, bench, {"limit": None}))
    result = compare(session)
    d = next(d for d in result.deltas if d["stage"] == "sft")
    assert d["verdict"] == "degenerate" and d["note"] == "sft answers C to all 24 questions"
    assert any("MMLU acc: no verdict, degenerate (sft answers C to all 24 questions)" in s for s in result.sentences)


def test_a_change_whose_judge_rated_fewer_than_half_the_turns_is_called_degenerate_naming_the_numbers(session):
    """A 135M judge writes a parsable [[rating]] for 1 of 16 turns: the stage's MT-Bench mean is that one rating."""
    from sit.evaluation.mtbench_run import question_items

    spec, bench = session.registry.get(LLAMA), BENCHMARKS["mt_bench"]
    for stage, rated in (("base", 12), ("sft", 1), ("dpo", 16)):
        judgments = [{"question_id": 81 + 10 * q, "turn": turn, "category": "writing", "judgment": "...",
                      "rating": float(1 + (2 * q + turn) % 9) if 2 * q + turn - 1 < rated else None}
                     for q in range(8) for turn in (1, 2)]
        items = [{**it, "adapter": None} for it in question_items(judgments, {})]
        rows = metric_rows(model=spec.id, stage=stage, benchmark="mt_bench", items=items,
                           metrics=[*bench.metrics, "unparsable"], world=session.world_id, note="test")
        store_results(session, slug=spec.slug, model=spec.id, stage=stage, benchmark="mt_bench", rows=rows,
                      items=items, fingerprint=fingerprint(session, bench, {"questions": None}))
    result = compare(session)
    verdicts = {d["stage"]: d for d in result.deltas if d["benchmark"] == "mt_bench"}
    said = "sft the judge rated 1 of 16 turns (6%; the other judgments hold no parsable rating)"
    assert verdicts["sft"]["verdict"] == "degenerate" and verdicts["sft"]["note"].startswith(said + "; 5 questions")
    assert verdicts["dpo"]["verdict"] != "degenerate"  # base's 12 of 16 and dpo's 16 of 16 are measurements
    assert said in session.workspace.summary_file.read_text() and said in session.workspace.comparison_file.read_text()
