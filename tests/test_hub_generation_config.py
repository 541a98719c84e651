"""A model's own ``generation_config.json`` (the hub's) never changes what the project generates.

transformers 5 fills every field a caller leaves unset from the model's generation config, even when a config is
passed. Hub files carry such fields (Qwen2.5-7B-Instruct: ``repetition_penalty`` 1.05; Qwen2.5-3B:
``max_new_tokens`` 2048). Here every toy model's file gets a strong repetition penalty and a tiny
``max_new_tokens``: if either were inherited, the engine's answers, lm-eval's IFEval outputs or the judge's
judgments would change."""

import json
import shutil

import pytest

from sit.evaluation.benchmarks import IFEVAL, get_benchmark, knobs
from sit.evaluation.harness import run_harness
from sit.evaluation.judging import Judge, judge_answers
from sit.evaluation.mtbench import render
from sit.evaluation.mtbench_data import read_questions
from sit.evaluation.punkt import ensure_punkt
from sit.inference.engine import HFBackend, Prompt, SamplingSettings
from sit.session import start
from sit.stages import load_stage
from sit.store import JsonlStore

QWEN = "Qwen/Qwen2.5-3B"
pytestmark = pytest.mark.slow


def _generations(tmp_path) -> dict:
    """What the engine, the lm-eval path and the judge generate, greedily, with the project's loaders."""
    session = start("demo", str(tmp_path), verbose=False)
    model, tokenizer = load_stage(session, QWEN, "base")
    asked = ["Name a fruit that is red.", "Describe a sunny day in two sentences."]
    prompts = [Prompt(id=str(i), text=render(tokenizer, [{"role": "user", "content": text}]), seed=i)
               for i, text in enumerate(asked)]
    engine = HFBackend(model, tokenizer).generate(prompts, SamplingSettings(max_new_tokens=16))
    ensure_punkt(session.workspace, seed=session.seed, offline=True)  # IFEval's scoring, offline
    raw = run_harness(model, tokenizer, IFEVAL, {"tasks": "local", "limit": 2, "max_gen_toks": 16, "batch_size": 2},
                      chat_template=True, seed=session.seed)
    settings = {**knobs(get_benchmark("mt_bench"), session.section("evaluation")), "judge_max_new_tokens": 16}
    judge = Judge(session, session.model(settings["judge"], role="judge"))
    question = read_questions(1)[0]
    answers = {f"{question['question_id']}-{turn}": {"answer": "Dear hiring manager, I am writing to apply.",
                                                      "finish_reason": "stop"} for turn in (1, 2)}
    judgments = judge_answers(session, JsonlStore(tmp_path / "judgments.jsonl"), [question], answers, judge=judge,
                              settings=settings, fingerprint={"answers": {"stage": "base"}})
    return {"engine": [c.text for c in engine], "ifeval": [s["resps"][0][0] for s in raw["samples"]["ifeval_local"]],
            "judge": [j["judgment"] for j in judgments]}


def test_no_generation_call_inherits_the_models_own_generation_config(toy_world, tmp_path, monkeypatch):
    plain = _generations(tmp_path / "plain")
    world = tmp_path / "hub-like"
    shutil.copytree(toy_world, world)
    for path in world.glob("*/generation_config.json"):
        config = json.loads(path.read_text())
        config.update(repetition_penalty=5.0, max_new_tokens=2)
        path.write_text(json.dumps(config))
    monkeypatch.setattr("sit.toy.toy_model_path", lambda slug, seed=42: world / slug)
    hub_like = _generations(tmp_path / "hub-like-run")
    assert [len(texts) for texts in plain.values()] == [2, 2, 2]
    assert all(len(text.split()) > 2 for texts in plain.values() for text in texts)  # max_new_tokens=2 would show
    assert hub_like == plain
