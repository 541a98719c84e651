"""The LLM agent on the toy world: batched episodes end to end, prompts within the window, cached reruns."""

import pytest

import sit.agent.llm as llm_module
from sit.agent.env import Shop
from sit.agent.episodes import EpisodeState
from sit.agent.llm import LLMAgent, load_agent_model, stage_of
from sit.agent.run import evaluate_agent, load_catalog, read_results
from sit.config import ConfigError
from sit.session import start

GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def session(tmp_path_factory, toy_world):
    workspace = tmp_path_factory.mktemp("agent-llm")
    return start("demo", str(workspace), 42, {"agent.goals": 4, "agent.max_rounds": 3}, verbose=False)


def test_agentbench_prompt_fits_the_window_and_keeps_the_instruction(session):
    spec, _ = stage_of(session, GENERATOR, "dpo")
    model, tokenizer = load_agent_model(session, GENERATOR, "base")
    agent = LLMAgent(model, tokenizer, spec, mode="agentbench", context_window=300, max_new_tokens=40, seed=1)
    catalog = load_catalog(session, session.section("agent"))
    goal = catalog.split("test")[0]
    state = EpisodeState(goal, Shop(catalog, results_per_page=3).episode(goal))
    for action in ("search[shampoo]", "click[next >]"):
        state.turns.append({"observation": state.observation, "available_actions": state.available,
                            "reply": f"Action: {action}"})
        state.env.step(action)
    text = agent.prompt_text(state)
    assert agent.backend.count_tokens(text) <= 260
    assert goal["instruction"] in text and text.startswith(tokenizer.bos_token)
    # The engine trims what the model gets the same way, and the agent counts it for the results note.
    assert len(agent.replies([state])) == 1 and (agent.prompts, agent.trimmed) == (1, 1)
    assert agent.note() == "1 of 1 prompts longer than the context window trimmed (oldest rounds first)"
    roomy = LLMAgent(model, tokenizer, spec, mode="agentbench", context_window=8192, max_new_tokens=40, seed=1)
    assert "You are web shopping." in roomy.prompt_text(state) and "B000VOHH8I" in roomy.prompt_text(state)


def test_reference_agent_plays_batched_episodes_and_reruns_from_cache(session, monkeypatch):
    run = evaluate_agent(session, "llm", GENERATOR, progress=False)
    assert run.stage == "reference" and run.model == GENERATOR and len(run.records) == 4
    for record in run.records:
        assert 1 <= record["rounds"] <= 3 and record["turns"][0]["observation"].startswith("WebShop [SEP]")
        assert (record["end"] == "invalid_format") == (record["turns"][-1]["action"] is None)
        assert record["run"]["world"] == session.world_id and record["run"]["prompt"] == "observation"
    rows = [r for r in read_results(session) if r["model"] == GENERATOR]
    assert {r["metric"] for r in rows} == {"reward", "success_rate", "avg_turns", "invalid_action_rate"}

    def no_model(*args, **kwargs):
        raise AssertionError("a finished run must not load the model again")

    monkeypatch.setattr(llm_module, "load_agent_model", no_model)
    assert evaluate_agent(session, "llm", GENERATOR, progress=False).records == run.records


def test_the_base_agent_is_asked_in_its_completion_format_and_stopped_by_base_stops(session):
    from sit.preference.base_prompting import base_note, base_prompting, base_stops

    llama = "meta-llama/Llama-3.2-3B"
    spec, _ = stage_of(session, llama, "base")
    model, tokenizer = load_agent_model(session, llama, "base")
    agent = LLMAgent(model, tokenizer, spec, mode="observation", context_window=512, max_new_tokens=16, seed=1,
                     stage="base")
    catalog = load_catalog(session, session.section("agent"))
    goal = catalog.split("test")[0]
    text = agent.prompt_text(EpisodeState(goal, Shop(catalog, results_per_page=3).episode(goal)))
    assert text.startswith("<|begin_of_text|>### Instruction:\nObservation:\n") and text.endswith("\n\n### Response:\n")
    assert (agent.settings.stop_token_ids, agent.settings.stop_strings) == base_stops(spec, tokenizer)
    assert agent.note() == base_note(spec)
    run = evaluate_agent(session, "llm", llama, "base", progress=False, goals=2, max_rounds=1)
    assert all(r["run"]["prompting"] == base_prompting(spec) for r in run.records)
    notes = {r["note"] for r in read_results(session) if r["model"] == llama and r["stage"] == "base"}
    assert len(notes) == 1 and base_note(spec) in notes.pop()


def test_missing_or_unknown_stage_is_a_clear_error(session):
    with pytest.raises(ConfigError, match="unknown stage 'final'"):
        evaluate_agent(session, "llm", "llama-3.2-3b", "final")
    with pytest.raises(ConfigError, match="(04|05)"):
        evaluate_agent(session, "llm", "llama-3.2-3b", "dpo")
    with pytest.raises(ConfigError, match="neither a target nor the generator"):
        evaluate_agent(session, "llm", "reward-deberta-v3-large-v2", "base")


def test_a_generator_that_is_also_a_target_plays_its_trained_stages_and_reference_only_by_name(session, monkeypatch):
    # An instruct model in every role (SmolLM2 in the smol profile): notebook 07 plays it as the reference agent
    # and then as the target's SFT+DPO model; both must be played, not the reference twice.
    import yaml

    from sit.config import Registry, config_dir

    data = yaml.safe_load((config_dir() / "models.yaml").read_text())
    data["models"]["llama-3.1-8b-instruct"]["roles"].append("target")
    monkeypatch.setattr(session, "registry", Registry(data))
    assert stage_of(session, GENERATOR, "dpo")[1] == "dpo"
    assert stage_of(session, GENERATOR, "base")[1] == "base"
    assert stage_of(session, GENERATOR, "reference")[1] == "reference"
    with pytest.raises(ConfigError, match="not the generator, so it has no 'reference' stage"):
        stage_of(session, "llama-3.2-3b", "reference")
