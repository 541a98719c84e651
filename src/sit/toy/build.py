"""Building the toy world: one small trained stand-in per registry model, saved like a hub checkpoint.

Roles decide what a stand-in learns:

* generator / judge — a chat model trained on corpus conversations rendered with its chat template,
  so it writes an instruction after the Magpie pre-query template and answers a user turn;
* target — a *base* model pre-trained on plain documents mixed with instructions answered in its
  ``prompt_format``; targets get different amounts of training, so their answers differ in quality;
* reward — a DeBERTa-v2 sequence classifier (one logit) trained with a pairwise ranking loss.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import ModelSpec, Registry
from ..store import write_json_atomic
from .corpus import FLAWS, labeled_triples, make_corpus
from .train import BUILD_THREADS, Schedule, deterministic, pairwise_accuracy, train_causal_lm, train_reward
from .vocab import build_tokenizer

# Chat templates of instruct models whose registry entry says `chat_template: native`.
NATIVE_CHAT_TEMPLATES = {
    "qwen2": (
        "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant."
        "<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + message['role'] + "
        "'\\n' + message['content'] | trim + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
        "{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
}
# Training effort of the targets, in registry order: unequal on purpose so their answers differ in quality.
TARGET_EFFORT = (1.0, 0.3, 0.6)
DOCUMENT_SHARE = 0.35  # share of a target's training sequences that are plain documents
EXTRA_BOS_SHARE = 0.15  # chat sequences that start with a doubled bos (what tokenizing a rendered template gives)
MAX_TOKENS = 320
REWARD_MAX_LENGTH = 256
TEMPLATE_TEXTS = ["### Instruction:\n", "### Response:\n", "user\n", "assistant\n", "system\n",
                  "You are a helpful assistant."]


@dataclass(frozen=True)
class Sizes:
    """Corpus size, vocabulary size and training steps; ``scale`` shrinks them for quick test builds."""

    corpus: int
    vocab: int
    chat_steps: int
    judge_steps: int
    target_steps: int
    reward_steps: int
    reward_train: int
    reward_heldout: int

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        def n(value: int, low: int) -> int:
            return max(low, round(value * scale))

        return cls(corpus=n(4000, 200), vocab=1536 if scale >= 0.5 else 512, chat_steps=n(420, 2),
                   judge_steps=n(200, 2), target_steps=n(260, 2), reward_steps=n(320, 2),
                   reward_train=n(3000, 60), reward_heldout=n(600, 30))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def model_seed(seed: int, slug: str) -> int:
    """A per-model seed derived from the world seed."""
    return int(hashlib.sha256(f"{seed}:{slug}".encode()).hexdigest()[:8], 16)


# --------------------------------------------------------------------------- model configs


def _causal_config(spec: ModelSpec, tokenizer, eos_ids: list[int], pad_id: int):
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    toy = spec.toy
    common = dict(vocab_size=len(tokenizer), hidden_size=toy["hidden"], intermediate_size=toy["intermediate"],
                  num_hidden_layers=toy["layers"], num_attention_heads=toy["heads"],
                  num_key_value_heads=toy.get("kv_heads", toy["heads"]),
                  max_position_embeddings=toy["max_positions"],
                  tie_word_embeddings=bool(spec.arch.get("tie_embeddings", False)),
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids[0] if len(eos_ids) == 1 else eos_ids,
                  pad_token_id=pad_id)
    classes = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}
    if spec.architecture not in classes:
        raise ValueError(f"model '{spec.slug}': no toy causal LM for architecture '{spec.architecture}'")
    extra = {"mistral": {"sliding_window": None}, "qwen2": {"use_sliding_window": False}}.get(spec.architecture, {})
    return classes[spec.architecture](**common, **extra)


def _new_causal_lm(spec: ModelSpec, tokenizer, eos_ids: list[int], pad_id: int):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(_causal_config(spec, tokenizer, eos_ids, pad_id))


def _generation_config(tokenizer, eos_ids: list[int], pad_id: int):
    from transformers import GenerationConfig

    return GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids if len(eos_ids) > 1 else eos_ids[0],
                            pad_token_id=pad_id)


def _ids(tokenizer, tokens: list[str]) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens if t]


# --------------------------------------------------------------------------- training data


def chat_sequences(tokenizer, corpus: list[dict], rng: random.Random) -> list[list[int]]:
    """Conversations (user = instruction, assistant = response) rendered with the tokenizer's chat template."""
    bos = tokenizer.bos_token_id
    sequences = []
    for item in corpus:
        messages = [{"role": "user", "content": item["instruction"]},
                    {"role": "assistant", "content": item["response"]}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if bos is not None and rng.random() < EXTRA_BOS_SHARE:
            ids = [bos, *ids]
        if len(ids) <= MAX_TOKENS:
            sequences.append(ids)
    return sequences


def target_sequences(spec: ModelSpec, tokenizer, corpus: list[dict], rng: random.Random) -> list[list[int]]:
    """Plain documents and instructions answered in the model's ``prompt_format``, each ending with eos.

    A chat-style format (one that contains the end-of-turn token) closes the answer with that token too."""
    closer = spec.eot_token if spec.eot_token and spec.eot_token in (spec.prompt_format or "") else ""
    sequences = []
    for item in corpus:
        if rng.random() < DOCUMENT_SHARE:
            text = item["response"]
        else:
            text = spec.prompt_format.format(instruction=item["instruction"]) + item["response"] + closer
        ids = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        if len(ids) <= MAX_TOKENS:
            sequences.append(ids)
    return sequences


# --------------------------------------------------------------------------- per-role builders


def _train_lm(spec, tokenizer, sequences, steps, seed, eos_ids, pad_id):
    model = _new_causal_lm(spec, tokenizer, eos_ids, pad_id)
    losses = train_causal_lm(model, sequences, Schedule(steps=steps), pad_id=pad_id, seed=seed)
    model.generation_config = _generation_config(tokenizer, eos_ids, pad_id)
    return model, losses


def build_chat_model(spec: ModelSpec, tokenizer, corpus: list[dict], steps: int, seed: int):
    """Generator/judge: a chat model that continues the pre-query template and answers user turns."""
    template = spec.chat_template or NATIVE_CHAT_TEMPLATES.get(spec.family)
    if template is None:
        raise ValueError(f"model '{spec.slug}': no chat template for family '{spec.family}'")
    tokenizer.chat_template = template
    sequences = chat_sequences(tokenizer, corpus, random.Random(seed))
    eos_ids = _ids(tokenizer, [spec.eot_token, tokenizer.eos_token])
    pad_id = tokenizer.convert_tokens_to_ids(spec.pad_token)
    model, losses = _train_lm(spec, tokenizer, sequences, steps, seed, eos_ids, pad_id)
    return model, tokenizer, _lm_report(losses, sequences, steps)


def build_target_model(spec: ModelSpec, tokenizer, corpus: list[dict], steps: int, seed: int):
    """Target: a base LM that can answer an instruction given in its ``prompt_format``."""
    if not spec.prompt_format:
        raise ValueError(f"target '{spec.slug}' has no prompt_format in the registry")
    # Real base checkpoints: Llama-3 and Mistral ship no usable chat template, Qwen2.5 ships ChatML.
    tokenizer.chat_template = spec.chat_template if spec.family == "qwen2" else None
    sequences = target_sequences(spec, tokenizer, corpus, random.Random(seed))
    eos_ids = [tokenizer.eos_token_id]
    pad_id = tokenizer.convert_tokens_to_ids(spec.pad_token)
    model, losses = _train_lm(spec, tokenizer, sequences, steps, seed, eos_ids, pad_id)
    return model, tokenizer, _lm_report(losses, sequences, steps)


def _lm_report(losses: list[float], sequences: list[list[int]], steps: int) -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    return {"steps": steps, "sequences": len(sequences), "first_loss": round(losses[0], 4),
            "final_loss": round(sum(tail) / len(tail), 4)}


def _reward_config(spec: ModelSpec, tokenizer):
    from transformers import DebertaV2Config

    toy = spec.toy
    return DebertaV2Config(
        vocab_size=len(tokenizer), hidden_size=toy["hidden"], num_hidden_layers=toy["layers"],
        num_attention_heads=toy["heads"], intermediate_size=toy["intermediate"],
        max_position_embeddings=toy["max_positions"], position_buckets=toy.get("position_buckets", 64),
        relative_attention=True, pos_att_type=["c2p"], position_biased_input=False, norm_rel_ebd="layer_norm",
        share_att_key=True, max_relative_positions=-1, type_vocab_size=0, num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_reward_model(spec: ModelSpec, tokenizer, sizes: Sizes, steps: int, seed: int):
    """Reward: DeBERTa-v2 with one logit, trained so a good answer outscores a flawed one."""
    from transformers import DebertaV2ForSequenceClassification

    if spec.architecture != "deberta-v2":
        raise ValueError(f"model '{spec.slug}': no toy reward model for architecture '{spec.architecture}'")
    train = [t[:3] for t in labeled_triples(seed, sizes.reward_train)]
    heldout = list(labeled_triples(seed + 1, sizes.reward_heldout))
    model = DebertaV2ForSequenceClassification(_reward_config(spec, tokenizer))
    losses = train_reward(model, tokenizer, train, Schedule(steps=steps, batch_size=16, lr=2e-3), seed=seed,
                          max_length=REWARD_MAX_LENGTH)
    by_flaw = {flaw: round(pairwise_accuracy(model, tokenizer, [t[:3] for t in heldout if t[3] == flaw],
                                             max_length=REWARD_MAX_LENGTH), 4) for flaw in FLAWS}
    accuracy = pairwise_accuracy(model, tokenizer, [t[:3] for t in heldout], max_length=REWARD_MAX_LENGTH)
    report = _lm_report(losses, train, steps)
    report.update(heldout_pairs=len(heldout), heldout_accuracy=round(accuracy, 4), heldout_accuracy_by_flaw=by_flaw)
    return model, tokenizer, report


# --------------------------------------------------------------------------- the world


def _tokenizer_texts(corpus: list[dict]) -> list[str]:
    return [x["instruction"] for x in corpus] + [x["response"] for x in corpus] + TEMPLATE_TEXTS


def _family_tokenizers(registry: Registry, corpus: list[dict], vocab: int, folder: Path) -> dict[str, Path]:
    """Train one tokenizer per family used by the registry; saved under ``folder``."""
    texts = _tokenizer_texts(corpus)
    paths = {}
    for family in dict.fromkeys(spec.family for spec in registry):
        path = folder / family
        build_tokenizer(family, registry.families[family], texts, vocab).save_pretrained(path)
        paths[family] = path
    return paths


def _build_one(spec: ModelSpec, registry: Registry, tokenizer, corpus: list[dict], sizes: Sizes, seed: int):
    roles = set(spec.roles)
    if "reward" in roles:
        return build_reward_model(spec, tokenizer, sizes, sizes.reward_steps, seed)
    if "generator" in roles:
        return build_chat_model(spec, tokenizer, corpus, sizes.chat_steps, seed)
    if "judge" in roles:
        return build_chat_model(spec, tokenizer, corpus, sizes.judge_steps, seed)
    target_index = [s.slug for s in registry.by_role("target")].index(spec.slug)
    effort = TARGET_EFFORT[target_index % len(TARGET_EFFORT)]
    return build_target_model(spec, tokenizer, corpus, max(2, round(sizes.target_steps * effort)), seed)


@contextlib.contextmanager
def _quiet_transformers():
    """No progress bars or info logs from transformers while building (restored afterwards)."""
    from transformers.utils import logging

    bars, level = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def build_world(folder: Path, registry: Registry, *, seed: int, scale: float, content_hash: str) -> dict:
    """Build every registry model into ``folder``; returns (and writes) the manifest."""
    with _quiet_transformers():
        return _build_world(folder, registry, seed=seed, scale=scale, content_hash=content_hash)


def _build_world(folder: Path, registry: Registry, *, seed: int, scale: float, content_hash: str) -> dict:
    from transformers import AutoTokenizer

    start = time.perf_counter()
    sizes = Sizes.for_scale(scale)
    corpus = make_corpus(seed, sizes.corpus)
    tokenizer_dir = folder / ".tokenizers"
    with deterministic(seed):
        families = _family_tokenizers(registry, corpus, sizes.vocab, tokenizer_dir)
    _log(f"toy world: corpus and tokenizers ready ({time.perf_counter() - start:.1f}s)")
    models = {}
    for spec in registry:
        began = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(families[spec.family])
        with deterministic(model_seed(seed, spec.slug)):
            model, tokenizer, report = _build_one(spec, registry, tokenizer, corpus, sizes, model_seed(seed, spec.slug))
        model.save_pretrained(folder / spec.slug)
        tokenizer.save_pretrained(folder / spec.slug)
        report.update(roles=list(spec.roles), family=spec.family, architecture=type(model).__name__,
                      parameters=sum(p.numel() for p in model.parameters()), vocab_size=len(tokenizer))
        models[spec.slug] = report
        _log(f"toy world: {spec.slug} built in {time.perf_counter() - began:.1f}s ({report['parameters']:,} params)")
    for path in sorted(tokenizer_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    tokenizer_dir.rmdir()
    manifest = {"seed": seed, "scale": scale, "hash": content_hash, "sizes": asdict(sizes),
                "corpus_kinds": _kind_counts(corpus), "models": models, "build_threads": BUILD_THREADS}
    write_json_atomic(folder / "manifest.json", manifest)
    _log(f"toy world: built in {time.perf_counter() - start:.1f}s")
    return manifest


def _kind_counts(corpus: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in corpus:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return dict(sorted(counts.items()))
