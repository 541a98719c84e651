"""The offline toy world: conventions of the stand-ins, their behaviour, caching and determinism."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import sit.toy as toy
from sit.config import ConfigError, load_registry
from sit.models import load_causal_lm, load_reward_model, load_tokenizer, stop_token_ids
from sit.toy import default_root, describe, ensure_toy_world, toy_model_path, world_hash
from sit.toy.build import weights_digest
from sit.toy.corpus import KINDS, labeled_triples, make_corpus, reward_triples, word_count, word_set
from sit.toy.train import pairwise_accuracy

PROFILE = {"world": "toy", "seed": 42, "dtype": "float32", "device": "cpu", "name": "demo"}
GENERATOR, JUDGE, REWARD = "llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "reward-deberta-v3-large-v2"
TARGETS = ("llama-3.2-3b", "mistral-7b-v0.1", "qwen2.5-3b")
REGISTRY = load_registry().with_toy_stand_ins()  # the models the toy world builds


def spec(slug):
    return REGISTRY.get(slug)


@pytest.fixture(scope="module")
def english_words():
    """Every word of the English part of a corpus drawn with another seed."""
    words = set()
    for item in make_corpus(seed=7, n=3000):
        if item["kind"] != "non_english":
            words |= word_set(item["instruction"]) | word_set(item["response"])
    return words


def mostly_english(text: str, vocabulary: set[str]) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and sum(w in vocabulary for w in words) / len(words) >= 0.8


def chat_model(slug):
    return load_tokenizer(spec(slug), PROFILE), load_causal_lm(spec(slug), PROFILE)


def held_out_instructions(n: int) -> list[str]:
    return [x["instruction"] for x in make_corpus(seed=1234, n=4 * n) if x["kind"] == "clean"][:n]


# --------------------------------------------------------------------------- corpus


def test_corpus_is_deterministic_mixed_and_rarely_near_duplicate():
    corpus = make_corpus(seed=3, n=1500)
    assert corpus == make_corpus(seed=3, n=1500)
    assert corpus != make_corpus(seed=4, n=1500)
    counts = {kind: sum(x["kind"] == kind for x in corpus) for kind in KINDS}
    for kind in KINDS[1:]:
        assert 0.03 * len(corpus) <= counts[kind] <= 0.10 * len(corpus), (kind, counts)
    clean = [x for x in corpus if x["kind"] == "clean"]
    assert all(30 <= word_count(x["response"]) <= 110 for x in clean)
    assert all(word_count(x["response"]) < 20 for x in corpus if x["kind"] == "too_short")
    assert all(150 <= word_count(x["response"]) <= 220 for x in corpus if x["kind"] == "too_long")
    assert all(x["instruction"].endswith(":") for x in corpus if x["kind"] == "colon_lead_in")
    assert len({x["task"] for x in clean}) >= 10
    sets = [word_set(x["instruction"]) for x in clean]
    close = sum(len(a & b) / len(a | b) >= 0.8 for i, a in enumerate(sets) for b in sets[:i])
    assert close <= len(clean) // 100


def test_reward_triples_pair_a_good_answer_with_a_flawed_one():
    triples = list(reward_triples(seed=2, n=200))
    assert len(triples) == 200 and all(len(t) == 3 for t in triples)
    assert all(good != bad for _, good, bad in triples)
    flaws = {flaw for *_, flaw in labeled_triples(seed=2, n=200)}
    assert {"refusal", "off_topic", "repetitive", "truncated", "non_english", "too_short"} <= flaws


# --------------------------------------------------------------------------- files and tokenizers


def test_every_registry_model_has_a_safe_hub_style_folder(toy_world):
    for model in REGISTRY:
        folder = toy_world / model.slug
        names = {p.name for p in folder.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
        assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth", ".py"))]
        assert json.loads((folder / "config.json").read_text())["model_type"] == model.architecture
    assert sum(p.stat().st_size for p in toy_world.rglob("*") if p.is_file()) < 20e6


def test_llama3_tokenizers_add_bos_and_keep_special_tokens_whole(toy_world):
    family = REGISTRY.families["llama3"]
    for slug in (GENERATOR, "llama-3.2-3b"):
        tok = load_tokenizer(spec(slug), PROFILE)
        ids = tok("Explain gravity.")["input_ids"]
        assert ids[0] == tok.convert_tokens_to_ids("<|begin_of_text|>") and ids.count(ids[0]) == 1
        assert tok.eos_token == "<|end_of_text|>"
        for special in family["special_tokens"]:
            assert tok(special, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(special)]
        assert tok.decode(tok("Café 🙂 naïve")["input_ids"], skip_special_tokens=True) == "Café 🙂 naïve"
    gen = json.loads((toy_world / GENERATOR / "generation_config.json").read_text())
    tok = load_tokenizer(spec(GENERATOR), PROFILE)
    assert set(gen["eos_token_id"]) == {tok.convert_tokens_to_ids("<|eot_id|>"),
                                        tok.convert_tokens_to_ids("<|end_of_text|>")}
    assert gen["pad_token_id"] == tok.convert_tokens_to_ids("<|finetune_right_pad_id|>")
    assert (toy_world / GENERATOR / "chat_template.jinja").is_file()
    assert not (toy_world / "llama-3.2-3b" / "chat_template.jinja").exists()  # a base model ships none


def test_qwen2_tokenizers_have_no_bos_and_ship_chatml(toy_world):
    from transformers import AutoTokenizer

    for slug in (JUDGE, "qwen2.5-3b"):
        tok = AutoTokenizer.from_pretrained(toy_world / slug)
        assert tok.bos_token is None and tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|endoftext|>"
        ids = tok("<|im_start|>user\nHi<|im_end|>")["input_ids"]
        assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>") and tok.convert_tokens_to_ids("<|im_end|>") in ids
        text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
        assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    native = AutoTokenizer.from_pretrained(toy_world / JUDGE)
    text = native.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert text.startswith(spec(JUDGE).pre_query_template)  # the Magpie template is the native prefix


def test_mistral_tokenizer_is_sentencepiece_style_with_byte_fallback(toy_world):
    tok = load_tokenizer(spec("mistral-7b-v0.1"), PROFILE)
    assert [tok.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>")] == [0, 1, 2]
    assert tok.pad_token == "<unk>" and tok.chat_template == spec("mistral-7b-v0.1").chat_template
    ids = tok("Explain gravity to me 🙂")["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[0] == "<s>" and pieces[1].startswith("▁")
    assert any(re.fullmatch(r"<0x[0-9A-F]{2}>", p) for p in pieces)  # the emoji falls back to bytes
    assert tok.decode(ids, skip_special_tokens=True) == "Explain gravity to me 🙂"
    assert not (toy_world / "mistral-7b-v0.1" / "chat_template.jinja").exists()


def test_reward_tokenizer_encodes_a_question_answer_pair(toy_world):
    tok = load_tokenizer(spec(REWARD), PROFILE, padding_side="right")
    pieces = tok.convert_ids_to_tokens(tok("What is gravity?", "It pulls things down.")["input_ids"])
    assert pieces[0] == "[CLS]" and pieces.count("[SEP]") == 2 and pieces[-1] == "[SEP]"
    assert tok.pad_token == "[PAD]" and tok.pad_token_id == 0


# --------------------------------------------------------------------------- behaviour


def sample_magpie_instructions(slug: str, n: int = 32, max_new_tokens: int = 48):
    """Instructions sampled (temperature 1.0) after the family's pre-query template."""
    model_spec = spec(slug)
    tok, model = chat_model(slug)
    stops = [tok.convert_tokens_to_ids(t) for t in model_spec.family_spec["instruction_stop_tokens"]]
    enc = tok([model_spec.pre_query_template] * n, return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=max_new_tokens,
                         eos_token_id=stops, pad_token_id=tok.pad_token_id)
    eot = tok.convert_tokens_to_ids(model_spec.eot_token)
    new = out[:, enc["input_ids"].shape[1]:].tolist()
    return [(tok.decode(row, skip_special_tokens=True).strip(), eot in row) for row in new]


def test_magpie_sampling_writes_english_instructions_that_end_the_turn(toy_world, english_words):
    # Only the generator writes Magpie instructions; the judge's user turns are mostly judging requests.
    samples = sample_magpie_instructions(GENERATOR)
    good = [text for text, ended in samples if ended and mostly_english(text, english_words)]
    assert len(good) >= 0.8 * len(samples), samples
    assert len(set(good)) >= 0.7 * len(good)  # sampling gives variety, not one memorised line


def greedy_answers(slug: str, instructions: list[str], max_new_tokens: int = 192):
    tok, model = chat_model(slug)
    texts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
             for q in instructions]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                         eos_token_id=stop_token_ids(spec(slug), tok), pad_token_id=tok.pad_token_id)
    eot = tok.convert_tokens_to_ids(spec(slug).eot_token)
    new = out[:, enc["input_ids"].shape[1]:].tolist()
    return [(tok.decode(row, skip_special_tokens=True).strip(), eot in row) for row in new]


def content_words(text: str) -> set[str]:
    small = {"what", "with", "that", "this", "about", "give", "write", "explain", "tell", "short", "simple", "terms",
             "please", "how", "the", "and", "for", "can", "you", "should", "know", "does", "are", "into"}
    return {w for w in word_set(text) if len(w) > 3 and w not in small and not w.isdigit()}


def test_generator_answers_a_user_turn_and_ends_it(toy_world, english_words):
    instructions = held_out_instructions(16)
    answers = greedy_answers(GENERATOR, instructions)
    assert sum(ended for _, ended in answers) >= 14
    assert sum(word_count(text) >= 20 for text, _ in answers) >= 12
    assert sum(mostly_english(text, english_words) for text, _ in answers) >= 14
    on_topic = sum(bool(content_words(q) & content_words(a)) for q, (a, _) in zip(instructions, answers, strict=True))
    assert on_topic >= 8, list(zip(instructions, answers, strict=True))


def target_answers(slug: str, instructions: list[str], max_new_tokens: int = 160):
    model_spec = spec(slug)
    tok = load_tokenizer(model_spec, PROFILE)
    model = load_causal_lm(model_spec, PROFILE)
    enc = tok([model_spec.prompt_format.format(instruction=q) for q in instructions], return_tensors="pt",
              padding=True)
    stops = stop_token_ids(model_spec, tok)
    out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=stops,
                         pad_token_id=tok.pad_token_id)
    new = out[:, enc["input_ids"].shape[1]:].tolist()
    return [(tok.decode(row, skip_special_tokens=True).strip(), any(s in row for s in stops)) for row in new]


def test_targets_answer_their_prompt_format_with_unequal_quality(toy_world):
    instructions = held_out_instructions(16)
    stopped = {}
    for slug in TARGETS:
        answers = target_answers(slug, instructions)
        assert sum(word_count(text) >= 3 for text, _ in answers) >= 14, (slug, answers)
        assert not any("### Instruction" in text for text, _ in answers)
        stopped[slug] = sum(ended for _, ended in answers)
    assert max(stopped.values()) >= 12 and min(stopped.values()) >= 3, stopped
    losses = {slug: describe(toy_world)["models"][slug]["final_loss"] for slug in TARGETS}
    assert max(losses.values()) - min(losses.values()) > 0.3  # different training, different quality


def test_reward_model_ranks_good_answers_above_flawed_ones(toy_world):
    manifest = describe(toy_world)["models"][REWARD]
    assert manifest["heldout_accuracy"] >= 0.9 and manifest["heldout_pairs"] >= 300
    tok = load_tokenizer(spec(REWARD), PROFILE, padding_side="right")
    model = load_reward_model(spec(REWARD), PROFILE)
    fresh = list(reward_triples(seed=987, n=240))
    assert pairwise_accuracy(model, tok, fresh) >= 0.88


# --------------------------------------------------------------------------- the world folder


def test_manifest_describes_every_model_without_timings(toy_world):
    manifest = describe(toy_world)
    assert manifest["seed"] == 42 and manifest["hash"] == toy_world.name
    assert set(manifest["models"]) == set(REGISTRY.slugs)
    for info in manifest["models"].values():
        assert info["parameters"] > 0 and info["final_loss"] < info["first_loss"]
    text = json.dumps(manifest).lower()
    assert "time" not in text and "second" not in text and "date" not in text


def test_second_call_reuses_the_world(toy_world):
    stamp = (toy_world / "manifest.json").stat().st_mtime_ns
    start = time.perf_counter()
    assert ensure_toy_world() == toy_world
    assert toy_model_path(GENERATOR) == toy_world / GENERATOR
    assert time.perf_counter() - start < 2.0
    assert (toy_world / "manifest.json").stat().st_mtime_ns == stamp
    assert toy_world.parent == default_root() and toy_world.name == world_hash(42)


def test_unknown_slug_is_an_error_that_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("SIT_TOY_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        toy_model_path("gpt-5")
    assert "llama-3.1-8b-instruct" in str(err.value) and "reward-deberta-v3-large-v2" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing was built


def test_default_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SIT_TOY_DIR", str(tmp_path / "worlds"))
    assert default_root() == tmp_path / "worlds"
    monkeypatch.delenv("SIT_TOY_DIR")
    assert default_root().parts[-2:] == (".cache", "toy-world")


def test_a_failed_build_leaves_no_world_behind(tmp_path, monkeypatch):
    import sit.toy.build as build

    def explode(folder, *args, **kwargs):
        (folder / "half").mkdir(parents=True)
        raise RuntimeError("killed")

    monkeypatch.setattr(build, "build_world", explode)
    with pytest.raises(RuntimeError):
        ensure_toy_world(seed=5, root=tmp_path, scale=0.01)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_reduced_world_is_byte_identical_across_processes(tmp_path):
    code = "import sys; from sit.toy import ensure_toy_world; print(ensure_toy_world(seed=7, root=sys.argv[1], scale=0.02))"
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    worlds = []
    for name in ("a", "b"):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], capture_output=True, text=True,
                              env=env, timeout=600, check=True)
        worlds.append(Path(done.stdout.strip().splitlines()[-1]))
    first, second = (_tree_digest(w) for w in worlds)
    assert first == second
    assert {"manifest.json", f"{GENERATOR}/model.safetensors", f"{REWARD}/tokenizer.json"} <= set(first)
    assert worlds[0].name == worlds[1].name != world_hash(8, 0.02)


def test_cli_reports_the_world(toy_world, capsys):
    from sit.cli import main

    assert main(["toy-world"]) == 0
    out = capsys.readouterr().out
    assert str(toy_world) in out and "found" in out
    assert f"fingerprint: {toy.fingerprint(toy_world)}" in out
    assert all(slug in out for slug in REGISTRY.slugs)


# --------------------------------------------------------------------------- which world it is


def test_manifest_records_the_cpu_kernels_and_a_hash_of_every_models_weights(toy_world):
    manifest = describe(toy_world)
    assert manifest["cpu"] == toy.cpu_kernels()
    assert manifest["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    hashes = {slug: info["weights_sha256"] for slug, info in manifest["models"].items()}
    assert hashes == {slug: weights_digest(toy_world / slug) for slug in REGISTRY.slugs}  # what is on disk
    assert len(set(hashes.values())) == len(hashes)


def test_weights_digest_follows_the_tensors_not_the_file(tmp_path):
    from safetensors.torch import save_file

    tensors = {"b": torch.arange(6, dtype=torch.float16).reshape(2, 3), "a": torch.ones(4)}
    for name, metadata in (("one", {"format": "pt"}), ("two", {"format": "pt", "note": "same weights"})):
        (tmp_path / name).mkdir()
        save_file(tensors, str(tmp_path / name / "model.safetensors"), metadata=metadata)
    (tmp_path / "three").mkdir()
    save_file({**tensors, "a": torch.tensor([1.0, 1.0, 1.0, 1.5])},  # one number differs
              str(tmp_path / "three" / "model.safetensors"))
    assert weights_digest(tmp_path / "one") == weights_digest(tmp_path / "two") != weights_digest(tmp_path / "three")


def _world_hash_under(capability: str) -> tuple[str, str]:
    code = ("from sit.toy import cpu_kernels, world_hash; "
            "print(world_hash(5, 0.01), cpu_kernels()['capability'])")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=True)
    digest, seen = done.stdout.split()
    return digest, seen


def test_a_world_built_under_other_cpu_kernels_is_never_reused(monkeypatch):
    """The folder key covers the kernel choice, so the cache builds a world per capability."""
    default, seen = _world_hash_under("default")
    assert seen == "DEFAULT"
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this CPU runs the default kernels already: no second capability to compare with")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    here = world_hash(5, 0.01)
    assert default != here
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    assert world_hash(5, 0.01) not in (here, default)
    assert toy.cpu_kernels()["mkl_cbwr"] == "COMPATIBLE"


def test_fingerprint_names_the_world_the_kernels_and_the_weights(toy_world, tmp_path):
    mark = toy.fingerprint(toy_world)
    assert mark.world_id == f"toy:{toy_world.name}"
    assert mark.capability.split()[0] == torch.backends.cpu.get_cpu_capability()
    assert re.fullmatch(r"[0-9a-f]{12}", mark.weights)
    assert str(mark) == f"toy:{toy_world.name} · CPU {mark.capability} · weights {mark.weights}"
    manifest = describe(toy_world)
    other = tmp_path / "other"
    other.mkdir()
    manifest["models"][GENERATOR]["weights_sha256"] = "0" * 64  # one model trained differently
    manifest["cpu"]["mkl_cbwr"] = "COMPATIBLE"
    (other / "manifest.json").write_text(json.dumps(manifest))
    changed = toy.fingerprint(other)
    assert changed.world_id == mark.world_id and changed.weights != mark.weights
    assert changed.capability.endswith("MKL_CBWR=COMPATIBLE")
    del manifest["cpu"]
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"manifest\.json: no 'cpu' recorded"):
        toy.fingerprint(other)
    assert isinstance(mark, toy.Fingerprint)
