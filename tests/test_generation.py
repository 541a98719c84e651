"""Magpie generation on the toy generator: prompts, sampling, batching, resuming, bad input."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from killing import kill_while_writing

from sit.config import ConfigError, load_registry
from sit.generation.magpie import (
    generate,
    instruction_settings,
    pre_query_prompt,
    response_prompt,
    sanitize_instruction,
)
from sit.inference.engine import (
    HFBackend,
    PerRowSampler,
    Prompt,
    SamplingSettings,
    cut_at_stop_strings,
    vllm_sampling_kwargs,
)
from sit.inference.runner import plan_batches
from sit.models import load_causal_lm, load_tokenizer
from sit.runtime import derive_seed
from sit.session import start
from sit.store import JsonlStore

GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"
SIT = str(Path(sys.executable).with_name("sit"))


@pytest.fixture(scope="module")
def generator(toy_world):
    session = start("demo", verbose=False)
    spec = session.registry.get(GENERATOR)
    tokenizer = load_tokenizer(spec, session.profile)
    model = load_causal_lm(spec, session.profile)
    return spec, tokenizer, HFBackend(model, tokenizer), session.profile


@pytest.mark.parametrize("raw, clean", [
    ("Task: Write a haiku about rain.", "Write a haiku about rain."),
    ("Q1. What is the capital of Peru?", "What is the capital of Peru?"),
    ("1) List three fruits.", "List three fruits."),
    ("Question: Task: Explain tides.", "Explain tides."),
    ("What is 2+2? Answer: 4", "What is 2+2?"),
    ("Solve x+1=3.\n## Step 1: subtract", "Solve x+1=3."),
    ("Tell me about Q-learning.", "Tell me about Q-learning."),  # no label, nothing to strip
    ("   ", ""),
])
def test_sanitize_instruction(raw, clean):
    assert sanitize_instruction(raw) == clean


def test_pre_query_template_is_the_chat_template_up_to_the_user_message(generator):
    spec, tokenizer, _, _ = generator
    assert pre_query_prompt(spec, tokenizer) == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    # Rendering the template with an empty user slot gives the same prefix: the registry entry is consistent.
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "X"}], tokenize=False)
    assert rendered.startswith(pre_query_prompt(spec, tokenizer) + "X")
    with_system = pre_query_prompt(spec, tokenizer, "You write math problems.")
    assert with_system.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou write math")
    assert with_system.endswith("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n")


def test_model_without_pre_query_template_is_refused_with_how_to_register():
    mistral = load_registry().get("mistralai/Mistral-7B-v0.1")
    with pytest.raises(ConfigError, match="family 'mistral'.*pre_query_template.*families.mistral"):
        pre_query_prompt(mistral, None)


def test_instruction_settings_stop_on_every_special_token(generator):
    spec, tokenizer, _, _ = generator
    settings = instruction_settings(spec, tokenizer, start("demo", verbose=False).profile["generation"])
    names = tokenizer.convert_ids_to_tokens(list(settings.stop_token_ids))
    assert set(names) == {"<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"}
    assert settings.stop_strings == ("\nassistant\n",) and settings.forbid_first_token_prefixes == ("#",)
    assert settings.temperature == 1.0 and settings.top_p == 1.0


def test_toy_generator_writes_english_instructions_then_answers_them(generator):
    spec, tokenizer, backend, profile = generator
    settings = instruction_settings(spec, tokenizer, profile["generation"])
    prompts = [Prompt(str(i), pre_query_prompt(spec, tokenizer), derive_seed(1, i)) for i in range(16)]
    outs = backend.generate(prompts, settings)
    stopped = [o for o in outs if o.finish_reason == "stop" and len(o.text.split()) >= 3]
    assert len(stopped) >= 12, [o.text for o in outs]
    assert len({o.text for o in outs}) >= 12  # sampling gives variety
    # Which sampled instruction gets a looping answer differs between CPUs: most answers end, not a given one.
    answers = backend.generate([Prompt(str(i), response_prompt(tokenizer, o.text), 0) for i, o in enumerate(stopped[:4])],
                               SamplingSettings(max_new_tokens=192, stop_token_ids=(tokenizer.convert_tokens_to_ids("<|eot_id|>"),)))
    assert sum(a.finish_reason == "stop" and len(a.text.split()) >= 5 for a in answers) >= 2, [a.text for a in answers]


def test_an_items_text_does_not_depend_on_its_batch(generator):
    spec, tokenizer, backend, profile = generator
    settings = instruction_settings(spec, tokenizer, profile["generation"])
    template = pre_query_prompt(spec, tokenizer)
    prompts = [Prompt(str(i), template, derive_seed(7, i)) for i in range(6)]
    together = backend.generate(prompts, settings)
    alone = backend.generate([prompts[4]], settings)
    reordered = backend.generate([prompts[4], prompts[0]], settings)
    assert together[4].text == alone[0].text == reordered[0].text
    assert together[0].text == reordered[1].text


def test_first_token_ban_and_sampling_are_per_row():
    scores = torch.tensor([[0.0, 9.0, 1.0, 2.0], [0.0, 9.0, 1.0, 2.0]])
    ids = torch.zeros((2, 5), dtype=torch.long)
    greedy = PerRowSampler([1, 2], 0.0, 1.0, prompt_length=5, forbidden_first_ids=[1])
    picked = greedy(ids, scores).argmax(-1).tolist()
    assert picked == [3, 3]  # token 1 is the argmax but forbidden as the first token
    later = PerRowSampler([1, 2], 0.0, 1.0, prompt_length=4, forbidden_first_ids=[1])
    assert later(ids, scores).argmax(-1).tolist() == [1, 1]  # only the first step is restricted
    flat = torch.zeros((2, 50))
    a = PerRowSampler([11, 12], 1.0, 1.0, prompt_length=0)
    b = PerRowSampler([11, 99], 1.0, 1.0, prompt_length=0)
    draws_a = [a(ids, flat).argmax(-1).tolist() for _ in range(20)]
    draws_b = [b(ids, flat).argmax(-1).tolist() for _ in range(20)]
    assert [d[0] for d in draws_a] == [d[0] for d in draws_b]  # row 0 has the same seed in both
    assert [d[1] for d in draws_a] != [d[1] for d in draws_b]


def test_top_p_keeps_only_the_nucleus():
    scores = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05]]))
    sampler = PerRowSampler([3], 1.0, 0.8, prompt_length=0)
    seen = {sampler(torch.zeros((1, 1), dtype=torch.long), scores).argmax(-1).item() for _ in range(200)}
    assert seen == {0, 1}


def test_length_bucketing_reduces_padding():
    random.seed(0)
    lengths = [random.randint(5, 300) for _ in range(256)]
    prompts = [Prompt(f"p{i}", "", 0) for i in range(256)]
    index = {p.id: n for p, n in zip(prompts, lengths, strict=True)}

    def padding(batches):
        return sum(max(index[p.id] for p in b) * len(b) - sum(index[p.id] for p in b) for b in batches)

    bucketed, plain = plan_batches(prompts, 16, lengths), plan_batches(prompts, 16)
    assert sorted(p.id for b in bucketed for p in b) == sorted(p.id for p in prompts)
    assert padding(bucketed) < padding(plain) / 5
    with pytest.raises(ValueError, match="batch size must be > 0"):
        plan_batches(prompts, 0)


def test_vllm_parameters_mirror_the_hf_settings():
    settings = SamplingSettings(max_new_tokens=64, temperature=1.0, top_p=0.9, stop_token_ids=(5, 6),
                                stop_strings=("assistant",), forbid_first_token_prefixes=("#",))
    assert vllm_sampling_kwargs(settings, seed=123) == {
        "n": 1, "temperature": 1.0, "top_p": 0.9, "max_tokens": 64, "stop": ["assistant"],
        "stop_token_ids": [5, 6], "seed": 123, "skip_special_tokens": True, "repetition_penalty": 1.0}
    try:
        import vllm  # noqa: F401
    except ImportError:
        from sit.inference.engine import VLLMBackend

        with pytest.raises(RuntimeError, match="backend 'vllm' needs vLLM"):
            VLLMBackend("x", None)


def _magpie_session(tmp_path, seed=42):
    return start("demo", str(tmp_path), seed, verbose=False)


def test_generate_writes_n_records_resumes_as_a_no_op_and_refuses_to_mix(tmp_path, toy_world, monkeypatch):
    session = _magpie_session(tmp_path)
    result = generate(session, num_instructions=24, batch_size=8, checkpoint_every=8, progress=False)
    records = JsonlStore(result.path).read()
    assert len(records) == 24 and len({r["id"] for r in records}) == 24
    keys = {"id", "instruction", "raw_instruction", "response", "generator", "gen", "instruction_tokens",
            "response_tokens", "finish_reason"}
    assert all(keys <= r.keys() for r in records)
    assert all(r["generator"] == GENERATOR and r["gen"]["instruction"]["temperature"] == 1.0 for r in records)
    answered = [r for r in records if r["finish_reason"]["instruction"] == "stop"]
    assert len(answered) >= 16 and sum(len(r["response"].split()) >= 20 for r in answered) >= len(answered) // 2
    manifest = json.loads((tmp_path / "data/raw/manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["records"] == 24 and manifest["seed"] == 42
    before = result.path.read_bytes()
    again = generate(session, num_instructions=24, progress=False)
    assert again.instruction_stats is None and result.path.read_bytes() == before  # finished run: no-op
    with pytest.raises(ConfigError, match=r"other settings \(.*seed: 42 -> 7\).*delete"):
        generate(_magpie_session(tmp_path, seed=7), num_instructions=24, progress=False)
    with monkeypatch.context() as patched:  # the toy world was rebuilt (its code changed): same names, new weights
        patched.setattr("sit.toy.world_hash", lambda *args, **kwargs: "rebuilt")
        with pytest.raises(ConfigError, match=r"other settings \(world: 'toy:[0-9a-f]{16}' -> 'toy:rebuilt'\)"):
            generate(session, num_instructions=32, progress=False)
    more = generate(session, num_instructions=32, batch_size=8, checkpoint_every=8, progress=False)
    assert len(more.records) == 32 and more.records[:24] == result.records


@pytest.mark.parametrize("text, kept", [
    ("Write a cover letter for a dental assistant position.", "Write a cover letter for a dental assistant position."),
    ("Summarize Hamlet.\nassistant\n\nHamlet is a prince", "Summarize Hamlet."),
    ("Tell me a joke.\nassistant", "Tell me a joke."),  # the header on the last line
    ("assistant\n\nSure, here is", ""),  # on the first line: no instruction at all
])
def test_the_assistant_stop_cuts_the_header_on_a_line_of_its_own_never_the_word(text, kept):
    for family in ("llama3", "qwen2"):
        stops = load_registry().families[family]["instruction_stop_strings"]
        assert cut_at_stop_strings(text, stops) == (kept, kept != text)


class Scripted(PerRowSampler):
    """The engine's own sampler, except that a row whose seed has a script writes that text, then its end token.

    The toy corpus has no instruction with the word "assistant" in it: this is the one seam, the model's choice
    of tokens. Everything after it is real (transformers' stop strings, the engine's cut, the sanitizer, the stores)."""

    scripts: dict[int, list[int]] = {}

    def __init__(self, seeds, *args, **kwargs):
        super().__init__(seeds, *args, **kwargs)
        self.rows = [self.scripts.get(int(seed)) for seed in seeds]

    def __call__(self, input_ids, scores):
        out = super().__call__(input_ids, scores)
        step = input_ids.shape[1] - self.prompt_length
        for row, script in enumerate(self.rows):
            if script is not None:
                out[row] = float("-inf")
                out[row, script[step] if step < len(script) else self.end_id] = 0.0
        return out


def test_the_word_assistant_in_an_instruction_survives_magpie_and_the_header_form_is_cut(tmp_path, toy_world,
                                                                                      monkeypatch):
    session = _magpie_session(tmp_path)
    tokenizer = load_tokenizer(session.registry.get(GENERATOR), session.profile)
    whole = "Write a cover letter for a dental assistant position."
    header = "Summarize the plot of Hamlet.\nassistant\n\nHamlet is a prince of Denmark who"
    scripts = [tokenizer.encode(text, add_special_tokens=False) for text in (whole, header)]
    monkeypatch.setattr(Scripted, "scripts", {derive_seed(session.seed, "instruction", f"magpie-{i:05d}"): script
                                              for i, script in enumerate(scripts)})
    monkeypatch.setattr("sit.inference.engine.PerRowSampler", Scripted)
    first, second = generate(session, num_instructions=2, batch_size=2, checkpoint_every=2,
                             max_new_tokens_response=8, progress=False).records
    assert first["instruction"] == first["raw_instruction"] == whole
    assert first["finish_reason"]["instruction"] == "stop" and first["instruction_tokens"] == len(scripts[0])
    # the header ends generation (a stop string) and is cut off with what follows
    assert second["instruction"] == "Summarize the plot of Hamlet." and second["finish_reason"]["instruction"] == "stop"
    assert second["instruction_tokens"] < len(scripts[1])


@pytest.mark.parametrize("override, message", [
    ({"num_instructions": 0}, "num_instructions must be a whole number > 0"),
    ({"batch_size": -1}, "batch_size must be a whole number > 0"),
    ({"temperature": 1}, "unknown generation setting"),
])
def test_bad_sizes_are_clear_errors(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        generate(_magpie_session(tmp_path), progress=False, **override)


def _cli(workspace, n):
    return [SIT, "generate", "--workspace", str(workspace), "--profile", "demo", "--quiet",
            "--num-instructions", str(n), "--batch-size", "8", "--checkpoint-every", "8"]


def test_generation_survives_repeated_sigkill(tmp_path, toy_world):
    """Kill a real `sit generate` at random points; the result equals an uninterrupted run's."""
    n = 48
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference, n), check=True, timeout=600)
    killed = tmp_path / "killed"
    watched = [killed / "data/raw/instructions.jsonl", killed / "data/raw/magpie.jsonl"]
    kills = kill_while_writing(_cli(killed, n), watched, rounds=4, max_delay=0.5, rng=random.Random(2024))
    assert kills >= 2
    subprocess.run(_cli(killed, n), check=True, timeout=600)
    for name in ("instructions.jsonl", "magpie.jsonl"):
        lines = (killed / "data/raw" / name).read_text().splitlines()
        records = [json.loads(line) for line in lines]  # every line is valid JSON
        assert len(records) == n and len({r["id"] for r in records}) == n
        want = {r["id"]: r for r in JsonlStore(reference / "data/raw" / name).read()}
        assert {r["id"]: r for r in records} == want
