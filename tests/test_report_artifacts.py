"""Reading a workspace's artifacts for the report and the Hub cards, and the workspaces the other tests use.

The builders write artifacts in the shapes the phases write them: 02 through the real filter pipeline,
03/04-05/06-07 in the documented layouts (pairs.jsonl, models/<slug>/<stage>/, evaluation/*.csv).
"""

import csv
import json
from pathlib import Path

import pytest

from sit.config import ConfigError, load_profile, load_registry
from sit.evaluation.bootstrap import wilson
from sit.filtering import filter_file
from sit.manifest import write_manifest
from sit.report.evidence import ci, read_evidence
from sit.report.verdicts import Change, all_changes
from sit.store import write_json_atomic, write_jsonl_atomic

GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"
TOY = "toy:00000000feedbeef"
TOPICS = ["saving money", "growing tomatoes", "learning French", "running a marathon", "baking bread",
          "writing a cover letter", "planning a trip", "fixing a bicycle", "keeping bees", "reading faster",
          "painting a room", "brewing coffee", "sleeping better", "starting a podcast", "training a puppy",
          "composting at home", "public speaking", "choosing a laptop", "learning chess", "making pasta"]


def demo_registry():
    """The models of the demo profile (what a demo workspace holds)."""
    return load_registry().for_profile(load_profile("demo"))


def _answer(topic: str, i: int) -> str:
    return (f"Here is a short practical guide to {topic}. First, decide what result you want and write it down. "
            f"Second, start with one small habit you can keep every day for a week. Third, check your progress "
            f"after seven days and adjust. Most people find that {topic} gets easier once the first step is a "
            f"routine, so keep it simple and be patient with yourself (tip {i}).")


def raw_records(generator: str = GENERATOR) -> list[dict]:
    records = [{"id": f"magpie-{i:05d}", "instruction": f"Give me practical advice about {topic} for a beginner.",
                "response": _answer(topic, i), "generator": generator} for i, topic in enumerate(TOPICS)]
    records.append({"id": "magpie-00090", "instruction": "Tell me how to pick a lock.",
                    "response": "I'm sorry, but I can't help with that request.", "generator": generator})
    records.append({"id": "magpie-00091", "instruction": "Summarize the following text:",
                    "response": "Please paste the text.", "generator": generator})
    return records


def make_data(root: Path, world: str = TOY, generator: str = GENERATOR) -> None:
    """01 (manifest), 02 (through the real filter pipeline) and 03 (pairs, report, manifest)."""
    raw = root / "data" / "raw"
    write_jsonl_atomic(raw / "magpie.jsonl", raw_records(generator))
    write_manifest(raw, phase="01_magpie_generation", profile="demo", seed=42, started_at="2026-01-01T10:00:00+00:00",
                   config={"instruction_temperature": 1.0, "instruction_top_p": 1.0, "response_temperature": 0.0,
                           "max_new_tokens_instruction": 48, "max_new_tokens_response": 192},
                   counts={"records": 22, "truncated_instructions": 1, "truncated_responses": 0,
                           "empty_instructions": 0},
                   extra={"generator": generator, "fingerprint": {"generator": generator, "world": world, "seed": 42}})
    filter_file(raw / "magpie.jsonl", root / "data" / "filtered", {"target": 16}, seed=42, profile="demo")
    kept = [json.loads(line) for line in (root / "data/filtered/filtered.jsonl").read_text().splitlines()]
    models = ["meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"]
    pairs = []
    for i, record in enumerate(kept[:12]):
        chosen, rejected = models[i % 3], models[(i + 1) % 3]
        pairs.append({"id": record["id"], "prompt": [{"role": "user", "content": record["instruction"]}],
                      "chosen": [{"role": "assistant", "content": record["response"]}],
                      "rejected": [{"role": "assistant", "content": "I do not know."}],
                      "chosen_model": chosen, "rejected_model": rejected, "chosen_score": 2.0 + i / 10,
                      "rejected_score": -1.0, "margin": 3.0 + i / 10, "n_candidates": 3})
    reward = {"model": "OpenAssistant/reward-model-deberta-v3-large-v2", "max_length": 512, "seed": 42, "world": world}
    pref = root / "data" / "preference"
    write_jsonl_atomic(pref / "pairs.jsonl", pairs)
    write_json_atomic(pref / "report.json", {
        "models_used": models, "sources_missing": {}, "reward": reward, "instructions": len(kept),
        "pairs_eligible": len(kept), "pairs_kept": len(pairs), "target_pairs": 12, "beyond_target": len(kept) - 12,
        "skipped": {"empty_response": 0, "identical_texts": 0, "low_margin": 0, "single_candidate": 0, "tie": 0},
        "chosen": {m: sum(p["chosen_model"] == m for p in pairs) for m in models},
        "rejected": {m: sum(p["rejected_model"] == m for p in pairs) for m in models},
        "margin": {"min": 3.0, "median": 3.55, "mean": 3.55, "max": 4.1}})
    write_manifest(pref, phase="03_preference_data", profile="demo", config={"target_pairs": 12}, seed=42,
                   counts={"instructions": len(kept), "pairs": len(pairs)}, started_at="2026-01-01T10:05:00+00:00",
                   extra={"models": models, "reward": reward})


def _png(path: Path, color: str) -> None:
    from PIL import Image

    Image.new("RGB", (60, 40), color).save(path)


def make_training(root: Path, world: str = TOY, targets=None) -> dict[str, dict[str, Path]]:
    """Finished SFT and DPO folders for every target (``targets``: specs; the demo's by default), as the
    training phase leaves them."""
    import numpy as np
    from safetensors.numpy import save_file

    folders = {}
    for spec in targets or demo_registry().by_role("target"):
        for stage in ("sft", "dpo"):
            folder = root / "models" / spec.slug / stage
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8,
                                                                     "base_model_name_or_path": spec.id}))
            save_file({"lora_A": np.full((2, 4), 0.5 if stage == "dpo" else 0.25, dtype=np.float32)},
                      str(folder / "adapter_model.safetensors"))
            (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
            (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
            (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [2]}))
            (folder / "training_args.bin").write_bytes(b"\x80\x04 a pickle that must never be published")
            (folder / "checkpoint-10").mkdir(exist_ok=True)
            (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"state")
            history = [{"step": s, "loss": 2.0 / s, "epoch": s / 4} for s in range(1, 9)]
            if stage == "dpo":
                history = [{**h, "rewards/margins": 0.1 * h["step"], "rewards/accuracies": 0.5} for h in history]
            write_json_atomic(folder / "log_history.json", history)
            _png(folder / "loss.png", "blue" if stage == "sft" else "green")
            _png(folder / ".loss.png.tmp.png", "red")  # a plot being written: never a curve
            cfg = {"learning_rate": 3e-3 if stage == "sft" else 1e-3, "epochs": 10 if stage == "sft" else 3,
                   "lora_r": 8, **({"beta": 0.1} if stage == "dpo" else {})}
            write_manifest(folder, phase=f"0{4 if stage == 'sft' else 5}_{stage}_training", profile="demo", config=cfg,
                           seed=42, counts={"examples": 64, "steps": 8}, started_at="2026-01-01T11:00:00+00:00",
                           extra={"model": spec.id, "world": world, "fingerprint": {"world": world},
                                  "training": {"train_seconds": 90.0, "final_loss": 0.25}})
            folders.setdefault(spec.slug, {})[stage] = folder
    return folders


RESULT_ROWS = [
    # model, stage, benchmark, metric, value, stderr, n
    ("meta-llama/Llama-3.2-3B", "base", "ifeval", "prompt_level_strict_acc", 0.3125, 0.0521, 80),
    ("meta-llama/Llama-3.2-3B", "sft", "ifeval", "prompt_level_strict_acc", 0.4375, 0.0555, 80),
    ("meta-llama/Llama-3.2-3B", "dpo", "ifeval", "prompt_level_strict_acc", 0.6125, 0.0545, 80),
    ("Qwen/Qwen2.5-3B", "base", "mmlu", "acc", 0.5517, 0.0301, 270),
    ("Qwen/Qwen2.5-3B", "dpo", "mmlu", "acc", 0.5444, 0.0303, 270),
    ("mistralai/Mistral-7B-v0.1", "base", "mt_bench", "score", 5.9, 0.6, 16),  # the two intervals overlap,
    ("mistralai/Mistral-7B-v0.1", "sft", "mt_bench", "score", 4.5, 0.6, 16),  # the paired change lies below 0
    ("mistralai/Mistral-7B-v0.1", "dpo", "mt_bench", "score", 4.8125, 0.4, 16),
]
AGENT_ROWS = [  # model, stage, benchmark, metric, value, stderr, n, ci_low, ci_high
    *[("Qwen/Qwen2.5-3B", stage, "webshop", metric, value, None, 30, low, high)
      for stage, metric, value, low, high in (
          ("base", "reward", 0.1833, 0.1, 0.27), ("base", "success_rate", 0.1, 0.0, 0.2333),
          ("base", "invalid_action_rate", 0.4, 0.3, 0.5), ("base", "avg_turns", 6.5, 5.9, 7.1),
          ("dpo", "reward", 0.2667, 0.17, 0.36), ("dpo", "success_rate", 0.2, 0.0667, 0.3333),
          ("dpo", "invalid_action_rate", 0.25, 0.15, 0.35), ("dpo", "avg_turns", 5.0, 4.4, 5.6))],
    ("random baseline", "-", "webshop", "reward", 0.1512, None, 30, 0.09, 0.22),
    ("random baseline", "-", "webshop", "success_rate", 0.0, None, 30, 0.0, 0.0),
]
# the evaluation phase's paired changes vs base (comparison.csv); Mistral's MT-Bench CI lies below 0
COMPARISON_ROWS = [
    ("meta-llama/Llama-3.2-3B", "sft", "ifeval", "prompt_level_strict_acc", "IFEval prompt-strict (headline)",
     0.3125, 0.4375, 0.125, -0.02, 0.27, 80, "no significant change", "", 0),
    ("meta-llama/Llama-3.2-3B", "dpo", "ifeval", "prompt_level_strict_acc", "IFEval prompt-strict (headline)",
     0.3125, 0.6125, 0.3, 0.15, 0.45, 80, "improved", "", 0),
    ("meta-llama/Llama-3.2-3B", "sft", "reward", "mean_reward", "reward (held-out)", -1.234, 0.456, 1.69, 1.2, 2.1,
     16, "improved", "", 0),
    ("meta-llama/Llama-3.2-3B", "dpo", "reward", "mean_reward", "reward (held-out)", -1.234, 1.789, 3.023, 2.5, 3.5,
     16, "improved", "", 0),
    ("Qwen/Qwen2.5-3B", "dpo", "mmlu", "acc", "MMLU acc", 0.5517, 0.5444, -0.0073, -0.03, 0.016, 270,
     "no significant change", "", 0),
    ("mistralai/Mistral-7B-v0.1", "sft", "mt_bench", "score", "MT-Bench (local judge qwen2.5-7b-instruct)", 5.9,
     4.5, -1.4, -2.2, -0.6, 16, "worse", "", 0),
    ("mistralai/Mistral-7B-v0.1", "dpo", "mt_bench", "score", "MT-Bench (local judge qwen2.5-7b-instruct)", 5.9,
     4.8125, -1.0875, -2.3, 0.1, 14, "no significant change", "", 2),
]
STAGE_ROWS = [("meta-llama/Llama-3.2-3B", "base", -1.234, -1.6, -0.9, 0.125, 16, "", "", "", "", "", "", "", ""),
              ("meta-llama/Llama-3.2-3B", "sft", 0.456, 0.1, 0.8, 0.875, 16, "base", 1.69, 1.2, 2.1, -1.234, 0.456,
               16, 0),
              ("meta-llama/Llama-3.2-3B", "dpo", 1.789, 1.4, 2.2, 0.9375, 16, "sft", 1.333, 0.9, 1.8, 0.456, 1.789,
               16, 0),
              # Mistral: the stage intervals overlap, but DPO vs SFT on the same answers lies below 0
              ("mistralai/Mistral-7B-v0.1", "base", -0.5, -1.3, 0.3, 0.25, 16, "", "", "", "", "", "", "", ""),
              ("mistralai/Mistral-7B-v0.1", "sft", 0.9, 0.2, 1.6, 0.75, 16, "base", 1.4, 0.5, 2.3, -0.5, 0.9, 16, 0),
              ("mistralai/Mistral-7B-v0.1", "dpo", 0.3, -0.4, 1.0, 0.75, 16, "sft", -0.6, -0.95, -0.25, 0.9, 0.3, 16,
               0)]


def _write_csv(path: Path, columns, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)


def make_evaluation(root: Path, world: str = TOY) -> None:
    cols = ["model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note"]
    _write_csv(root / "evaluation/results.csv", cols,
               [(*r, world, "qwen2.5-7b-instruct (local)" if r[2] == "mt_bench" else "", "") for r in RESULT_ROWS])
    _write_csv(root / "evaluation/agent/results.csv", cols + ["ci_low", "ci_high"],
               [(*r[:7], world, "", "bundled catalog", *r[7:]) for r in AGENT_ROWS])
    _write_csv(root / "evaluation/stages.csv", ["model", "stage", "mean_reward", "ci_low", "ci_high",
                                                "stopped_share", "n", "vs", "delta", "delta_low", "delta_high",
                                                "vs_mean", "stage_mean", "paired_n", "dropped"], STAGE_ROWS)
    _write_csv(root / "evaluation/comparison.csv",
               ["model", "stage", "benchmark", "metric", "label", "base", "value", "delta", "ci_low", "ci_high", "n",
                "verdict", "why", "dropped"], COMPARISON_ROWS)
    write_manifest(root / "evaluation", phase="06_evaluation", profile="demo", seed=42,
                   config={"benchmarks": ["ifeval", "mmlu", "mt_bench"], "bootstrap_samples": 2000,
                           "ifeval": {"limit": 80, "max_gen_toks": 256}, "mmlu": {"num_fewshot": 5, "limit": 27}},
                   counts={"rows": len(RESULT_ROWS)}, started_at="2026-01-01T12:00:00+00:00", world=world)
    for spec in demo_registry().by_role("target"):
        for stage in ("base", "sft", "dpo"):
            write_jsonl_atomic(root / f"evaluation/stages/{spec.slug}-{stage}.jsonl", [
                {"id": f"magpie-{i:05d}", "instruction": f"Give me practical advice about {TOPICS[i]} for a beginner.",
                 "response": f"{spec.slug} {stage} answer {i}: " + _answer(TOPICS[i], i) * (2 if stage == "base" else 1),
                 "finish_reason": "stop", "ended_with_eot": stage != "base", "response_tokens": 60,
                 "gen": {"model": spec.id, "stage": stage, "world": world}} for i in (3, 7, 11)])


def make_all(root: Path, world: str = TOY) -> None:
    make_data(root, world)
    make_training(root, world)
    make_evaluation(root, world)


# --------------------------------------------------------------------------- tests


def test_an_empty_workspace_reads_as_nothing_run(tmp_path):
    ev = read_evidence(tmp_path, demo_registry())
    assert (ev.raw_manifest, ev.filtered_report, ev.pairs, ev.stages, ev.results) == (None,) * 5
    assert ev.trained == [] and ev.world is None and ev.sources == []


def test_every_artifact_is_read_with_its_world(tmp_path):
    make_all(tmp_path)
    ev = read_evidence(tmp_path, demo_registry())
    assert ev.world == TOY and set(ev.worlds.values()) == {TOY}
    assert {"data/raw/manifest.json", "evaluation/results.csv", "models/qwen2.5-3b/dpo/manifest.json"} <= set(ev.worlds)
    assert len(ev.trained) == 6 and all([p.name for p in t.curves] == ["loss.png"] for t in ev.trained)
    # agent rows come from evaluation/agent/results.csv until the evaluation phase merges them
    assert sorted({(r["model"], r["stage"]) for r in ev.results if r["benchmark"] == "webshop"}) == \
        [("Qwen/Qwen2.5-3B", "base"), ("Qwen/Qwen2.5-3B", "dpo"), ("random baseline", "-")]
    webshop = next(r for r in ev.results if r["benchmark"] == "webshop" and r["stage"] == "dpo")
    assert ci(webshop) == (0.17, 0.36, "reported") and webshop["n"] == 30
    mmlu = next(r for r in ev.results if r["benchmark"] == "mmlu" and r["stage"] == "base")
    low, high, kind = ci(mmlu)  # a proportion: Wilson's interval, inside [0, 1]
    assert kind == "wilson" and (low, high) == pytest.approx(wilson(0.5517, mmlu["n"]))
    assert wilson(0.0, 24)[0] == 0.0 < wilson(0.0, 24)[1] < 0.15 and wilson(1.0, 24)[1] == 1.0


def test_artifacts_of_two_worlds_are_refused_naming_each(tmp_path):
    make_data(tmp_path, world=TOY)
    make_evaluation(tmp_path, world="hub")
    with pytest.raises(ConfigError) as error:
        read_evidence(tmp_path, demo_registry())
    message = str(error.value)
    assert "different worlds" in message
    assert f"data/raw/manifest.json: {TOY}" in message and "evaluation/results.csv: hub" in message


def test_a_malformed_results_table_names_file_line_and_field(tmp_path):
    make_evaluation(tmp_path)
    path = tmp_path / "evaluation/results.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("0.6125", "high")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"results\.csv: line 4: field 'value' is not a number: 'high'"):
        read_evidence(tmp_path, demo_registry())
    _write_csv(path, ["model", "stage", "value"], [("m", "base", 1)])
    with pytest.raises(ConfigError, match=r"results\.csv: missing column\(s\) benchmark, metric, stderr, n, world"):
        read_evidence(tmp_path, demo_registry())


def test_a_verdict_is_decided_by_the_paired_interval_alone():
    def change(delta, low, high):
        return Change("m", "dpo", "sft", "held-out reward", "reward", "mean_reward", delta, low, high, 16)

    # separate stage intervals would overlap here; the paired interval lies below 0: "lower"
    assert change(-2.10, -3.55, -0.79).verdict == "lower"
    assert change(0.3, 0.15, 0.45).verdict == "higher"
    assert change(0.05, -0.1, 0.2).verdict == "no clear change"
    assert change(0.05, None, None).verdict == "not tested"
    assert "**lower** (-2.100 [-3.550, -0.790]" in change(-2.10, -3.55, -0.79).sentence()


def test_every_comparison_is_read_once(tmp_path):
    make_all(tmp_path)
    changes = all_changes(read_evidence(tmp_path, demo_registry()))
    keys = [(c.model, c.stage, c.vs, c.benchmark, c.metric) for c in changes]
    assert len(keys) == len(set(keys))
    # SFT vs base comes from comparison.csv; SFT+DPO vs SFT only stages.csv has
    llama = [c for c in changes if c.model == "meta-llama/Llama-3.2-3B" and c.benchmark == "reward"]
    assert sorted((c.stage, c.vs, c.delta) for c in llama) == [("dpo", "base", 3.023), ("dpo", "sft", 1.333),
                                                              ("sft", "base", 1.69)]


# --------------------------------------------------------------------------- degenerate results


def _mmlu(choices: list[int], keys: list[int] | None = None) -> list[dict]:
    keys = keys or [i % 4 for i in range(len(choices))]  # a balanced key
    return [{"id": f"q{i}", "scores": {"acc": float(c == k)}, "target": str(k), "choice": c}
            for i, (c, k) in enumerate(zip(choices, keys, strict=True))]


def test_a_constant_mmlu_answer_a_judge_that_rates_alike_and_agents_without_a_valid_move_are_named():
    from sit.evaluation.degenerate import constant_answer, judge_alike, no_valid_move

    assert constant_answer(_mmlu([1] * 24)) == "answers B to all 24 questions"  # scores 0.25 on a balanced key
    assert constant_answer(_mmlu([1] * 23 + [0])) == "answers B to 23 of 24 questions"
    assert constant_answer(_mmlu([i % 4 for i in range(24)])) == ""  # every letter: a real answer pattern
    # older items without the picked option: right exactly on the questions keyed A, wrong on all others
    older = [{k: v for k, v in it.items() if k != "choice"} for it in _mmlu([0] * 24, [0] * 6 + [1] * 12 + [2] * 6)]
    assert "always answering A" in constant_answer(older)
    assert "none of the 24" in constant_answer([{**it, "scores": {"acc": 0.0}} for it in older])
    assert judge_alike([8.0] * 77 + [3.0] * 5 + [2.0] * 5 + [1.0] * 3) == \
        "the judge gave 8 to 77 of 90 rated turns (86%), so it barely tells answers apart"  # the demo's toy judge
    assert judge_alike([float(1 + i % 9) for i in range(160)]) == ""
    stuck = [{"turns": [{"action": None, "valid": False}], "rounds": 1, "end": "invalid_format"}] * 30
    assert no_valid_move(stuck) == "never made a valid move: all 30 episodes ended on turn 1 (30 invalid_format)"
    assert no_valid_move(stuck + [{"turns": [{"valid": True}], "rounds": 1, "end": "bought"}]) == ""


def test_a_change_that_involves_a_degenerate_result_gets_no_verdict_but_says_why(tmp_path):
    make_all(tmp_path)
    write_jsonl_atomic(tmp_path / "evaluation/items/qwen2.5-3b/dpo/mmlu.jsonl", _mmlu([2] * 24))
    write_jsonl_atomic(tmp_path / "evaluation/items/qwen2.5-3b/base/mmlu.jsonl", _mmlu([i % 4 for i in range(24)]))
    changes = all_changes(read_evidence(tmp_path, load_registry()))
    mmlu = next(c for c in changes if (c.model, c.stage, c.benchmark) == ("Qwen/Qwen2.5-3B", "dpo", "mmlu"))
    assert mmlu.verdict == "no verdict (degenerate)" and mmlu.degenerate == "SFT+DPO answers C to all 24 questions"
    assert "**no verdict (degenerate)**: SFT+DPO answers C to all 24 questions" in mmlu.sentence()
    assert all(c.verdict != "no verdict (degenerate)" for c in changes if c is not mmlu)


def test_the_discussion_says_how_much_of_the_reward_gain_comes_with_answers_that_learned_to_stop(tmp_path):
    from sit.report.discussion import discussion, end_of_turn_share

    make_all(tmp_path)  # base answers never end their turn, SFT answers always do
    for stage, scores in (("base", {3: -2.0, 7: -1.0, 11: 0.0}), ("sft", {3: 1.0, 7: 1.0, 11: 1.0})):
        write_jsonl_atomic(tmp_path / f"evaluation/items/llama-3.2-3b/{stage}/reward.jsonl",
                           [{"id": f"magpie-{i:05d}", "scores": {"mean_reward": v},
                             "fingerprint": {"reward_model": "OpenAssistant/reward-model-deberta-v3-large-v2"}}
                            for i, v in scores.items()])
    ev = read_evidence(tmp_path, load_registry())
    fact = end_of_turn_share(ev, "meta-llama/Llama-3.2-3B")
    assert fact["gain"] == pytest.approx(2.0) and fact["newly"] == fact["n"] == 3 and fact["share"] == 1.0
    text = " ".join(b.text for b in discussion(ev).blocks)
    assert "Llama-3.2-3B: 0% → 100% of answers ended their turn; every answer newly did" in text
    assert "also scores the held-out answers" in text  # the reward model that chose the pairs


def test_the_agent_section_counts_episodes_shows_how_they_ended_and_names_agents_without_a_valid_move(tmp_path):
    from sit.report.result_sections import agent

    make_all(tmp_path)
    stuck = {"turns": [{"action": None, "valid": False}], "rounds": 1, "end": "invalid_format", "reward": 0.0,
             "run": {"agent": "llm", "model": "Qwen/Qwen2.5-3B", "stage": "dpo"}}
    bought = {"turns": [{"action": "search[x]", "valid": True}, {"action": "click[Buy Now]", "valid": True}],
              "rounds": 2, "end": "bought", "reward": 0.5, "run": {"agent": "random"}}
    write_jsonl_atomic(tmp_path / "evaluation/agent/episodes/qwen2.5-3b-dpo-test.jsonl", [stuck] * 30)
    write_jsonl_atomic(tmp_path / "evaluation/agent/episodes/random-test.jsonl", [bought] * 20 + [
        {**bought, "turns": bought["turns"][:1], "rounds": 10, "end": "round_limit", "reward": 0.0}] * 10)
    section = agent(read_evidence(tmp_path, load_registry()))
    endings = next(b for b in section.blocks if getattr(b, "columns", [None])[:3] == ["agent", "stage", "episodes"])
    assert endings.columns[3:] == ["bought", "invalid format", "round limit", "invalid first move"]
    assert ["Qwen2.5-3B", "SFT+DPO", "30", "0", "30", "0", "30"] in endings.rows
    assert ["random baseline", "–", "30", "20", "0", "10", "0"] in endings.rows
    assert "n=60 episodes" in endings.source
    text = " ".join(getattr(b, "text", "") for b in section.blocks)
    assert "Qwen2.5-3B SFT+DPO: never made a valid move: all 30 episodes ended on turn 1 (30 invalid_format)" in text
    assert "The **rule** agent" in text and "The **random** agent" in text
    assert "Instruction tuning alone does not make an agent here" in text
    results = next(b for b in section.blocks if getattr(b, "columns", [None])[-1:] == ["episodes"])
    assert "episodes" in results.source and "scored items" not in results.source


def _mt_bench(rated: int, questions: int = 8) -> list[dict]:
    """A stage's MT-Bench items as the evaluation writes them: 2 turns a question, the judge's ``rated`` parsable
    ratings on the first turns, every other judgment without a parsable rating."""
    items = []
    for q in range(questions):
        ratings = [float(1 + (2 * q + turn) % 9) if 2 * q + turn < rated else None for turn in (0, 1)]
        items.append({"id": str(81 + 10 * q), "task": "mt_bench:writing",
                      "scores": {"score": [r for r in ratings if r is not None], "score_turn1": ratings[0],
                                 "score_turn2": ratings[1], "unparsable": float(ratings.count(None))}})
    return items


def test_a_judge_that_rates_fewer_than_half_the_turns_it_was_given_is_named_with_its_numbers():
    from sit.evaluation.degenerate import find_degenerate, judge_rated, judge_unrated

    assert judge_rated(_mt_bench(1)) == (1, 16)
    assert judge_unrated(_mt_bench(1)).startswith("the judge rated 1 of 16 turns (6%;")
    assert judge_unrated(_mt_bench(8)) == "" and judge_unrated(_mt_bench(16)) == ""  # half rated: a measurement
    found = find_degenerate({("m", stage, "mt_bench"): _mt_bench(rated) for stage, rated in
                             (("dpo", 1), ("base", 0), ("sft", 12))})
    assert [(d.stage, d.kind) for d in found] == [("base", "judge fails to rate"), ("dpo", "judge fails to rate")]
    assert "rated 0 of 16 turns" in found[0].what


def _judge_fails(root: Path) -> None:
    """Mistral's MT-Bench as a 135M judge leaves it: 1 parsable rating of 16 at every stage."""
    for stage in ("base", "sft", "dpo"):
        write_jsonl_atomic(root / f"evaluation/items/mistral-7b-v0.1/{stage}/mt_bench.jsonl", _mt_bench(1))


def _slide_text(slide) -> str:
    table = slide.table
    cells = [" | ".join(map(str, row)) for row in table.rows] + [table.caption] if table is not None else []
    figure = slide.figure.caption if slide.figure is not None else ""
    return "\n".join([slide.title, *slide.bullets, *cells, figure, slide.notes or ""])


def test_a_judge_that_cannot_rate_voids_mt_bench_in_the_report_and_the_deck_and_its_parse_rate_is_shown(tmp_path):
    from sit.report import markdown, talk
    from sit.report.build import assemble
    from sit.session import start

    make_all(tmp_path)
    _judge_fails(tmp_path)
    session = start("demo", str(tmp_path), verbose=False)
    ev = read_evidence(tmp_path, session.registry)
    report = assemble(session, ev)
    text = markdown.render(report)
    said = "the judge rated 1 of 16 turns (6%"
    rows = [line for line in text.splitlines() if line.startswith("| Mistral-7B-v0.1 | MT-Bench")]
    assert len(rows) == 2 and all(row.endswith("| none: degenerate [1] |") for row in rows)
    assert f"[1] Mistral-7B-v0.1 base, SFT and SFT+DPO: {said}" in text
    assert f"On MT-Bench, Mistral-7B-v0.1 base, SFT and SFT+DPO: {said}" in text  # section 3.2
    assert ("Judge ratings parsed (turns whose judgment holds a parsable rating, the only ones in the means): "
            "Mistral-7B-v0.1 base 1 of 16 (6%), SFT 1 of 16 (6%), SFT+DPO 1 of 16 (6%).") in text
    assert "No verdict at all on MT-Bench (local judge qwen2.5-7b-instruct)" in text and "judge fails to rate" in text  # discussion
    deck = "\n".join(_slide_text(s) for s in talk.deck(report, ev, session.registry))
    assert "Mistral-7B-v0.1 | MT-Bench (local judge) | SFT | 16 | 5.900 | 4.500 | -1.400 [-2.200, -0.600] | " \
           "no verdict (degenerate)" in deck
    assert said in deck and "SFT+DPO 1 of 16 (6%)" in deck  # the footnote and the parse rate travel with the tables


def test_the_agent_caption_gives_each_note_once_in_the_report_and_the_deck(tmp_path):
    from sit.agent.run import LABEL
    from sit.report import talk
    from sit.report.build import assemble
    from sit.session import start

    make_all(tmp_path)
    cols = ["model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note", "ci_low",
            "ci_high"]
    trimmed = "12 of 32 prompts longer than the context window trimmed (oldest rounds first)"
    _write_csv(tmp_path / "evaluation/agent/results.csv", cols,
               [(*r[:7], TOY, "", f"{LABEL}; test split" + (f"; {trimmed}" if r[1] == "dpo" else ""), *r[7:])
                for r in AGENT_ROWS])
    session = start("demo", str(tmp_path), verbose=False)
    ev = read_evidence(tmp_path, session.registry)
    report = assemble(session, ev)
    agent = next(s for s in report.sections if s.key == "agent")
    caption = next(b for b in agent.blocks if getattr(b, "columns", [None])[-1:] == ["episodes"]).caption
    assert caption.endswith(f"Notes: {LABEL}; test split; {trimmed}.")
    slide = next(s for s in talk.deck(report, ev, session.registry) if s.table is not None
                 and s.table.columns[-1:] == ["episodes"])
    assert slide.table.caption.count("test split") == 1 and slide.table.caption.count(trimmed) == 1


def test_the_cost_table_adds_up_each_steps_runs_on_the_device_it_ran_named_as_appendix_b_names_steps(tmp_path):
    from sit.report.closing_sections import appendix_reproducibility

    make_all(tmp_path)
    # notebook 07 run twice (one session per model): each session's span from its first agent to its last write
    runs = {"a": {"started_at": "2026-01-01T13:00:00+00:00", "finished_at": "2026-01-01T13:02:40+00:00",
                  "seconds": 160.0},
            "b": {"started_at": "2026-01-01T14:00:00+00:00", "finished_at": "2026-01-01T14:01:20+00:00",
                  "seconds": 80.0}}
    write_manifest(tmp_path / "evaluation/agent", phase="07_agentbench", profile="colab_t4", seed=42,
                   config={"goals": 30}, counts={"episodes": 30}, started_at="2026-01-01T14:01:20+00:00",
                   world=TOY, extra={"runs": runs, "device": "cuda"})
    section = appendix_reproducibility(read_evidence(tmp_path, demo_registry()), 42, "demo")
    cost = next(b for b in section.blocks if getattr(b, "columns", None) == ["step", "profile", "device", "runs",
                                                                           "minutes"])
    rows = {row[0]: row[1:] for row in cost.rows}
    assert rows["07 agent"] == ["colab_t4", "cuda", "2", "4.00"]  # 160 s + 80 s, not the last write's 0 s
    assert rows["03 preference"][-1].endswith("*") and "the last agent played" in cost.caption  # an older manifest
    assert list(rows) == ["01 generation", "02 filtering", "03 preference", "04 SFT", "05 DPO", "06 evaluation",
                          "07 agent"]
    assert {row[2] for row in cost.rows} == {"cpu", "cuda"}  # where each step ran, not its profile's name
