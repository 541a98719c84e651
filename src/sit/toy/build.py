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
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import ModelSpec, Registry
from ..store import write_json_atomic
from . import cpu_kernels
from .corpus import FLAWS, labeled_triples, make_corpus
from .skills import skill_conversations
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
# Training effort of the targets, in registry order (Llama-3.2-3B, Mistral-7B, Qwen2.5-3B): unequal on purpose
# so their answers differ in quality. Mistral-7B, the largest of the three, trains as long as Llama: on 70 %
# its stand-in could not yet follow an instruction, so SFT settled on one memorised answer for every question
# and DPO had nothing left to improve.
TARGET_EFFORT = (1.0, 1.0, 0.85)
DOCUMENT_SHARE = 0.35  # share of a target's training sequences that are plain documents
EXTRA_BOS_SHARE = 0.15  # chat sequences that start with a doubled bos (what tokenizing a rendered template gives)
MAX_TOKENS = 320
SKILL_TEXT_SHARE = 0.1  # skill messages in the tokenizer's training text, relative to the corpus
REWARD_MAX_LENGTH = 160
STORAGE_DTYPE = "float16"  # weights are saved in half precision (a few MB for the whole world)
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

        return cls(corpus=n(4000, 200), vocab=3584 if scale >= 0.5 else 512, chat_steps=n(1100, 2),
                   judge_steps=n(450, 2), target_steps=n(600, 2), reward_steps=n(350, 2),
                   reward_train=n(4800, 60), reward_heldout=n(600, 30))


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


def chat_sequences(tokenizer, corpus: list[dict], rng: random.Random,
                   extra: list[list[dict]] = (), extra_max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Conversations (user = instruction, assistant = response) rendered with the tokenizer's chat
    template; ``extra`` message lists (a role's skills) may be as long as ``extra_max_tokens``."""
    bos = tokenizer.bos_token_id
    sequences = []
    conversations = [[{"role": "user", "content": item["instruction"]},
                      {"role": "assistant", "content": item["response"]}] for item in corpus]
    for index, messages in enumerate([*conversations, *extra]):
        limit = MAX_TOKENS if index < len(conversations) else extra_max_tokens
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if bos is not None and rng.random() < EXTRA_BOS_SHARE:
            ids = [bos, *ids]
        if len(ids) <= limit:
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


@dataclass(frozen=True)
class Job:
    """One model to build: what it is, how long it trains, where its tokenizer is and where it goes."""

    spec: ModelSpec
    role: str  # chat | target | reward
    schedule: Schedule
    seed: int
    tokenizer_dir: str
    out_dir: str

    def to_dict(self) -> dict:
        return {"spec": asdict(self.spec), "role": self.role, "schedule": asdict(self.schedule), "seed": self.seed,
                "tokenizer_dir": self.tokenizer_dir, "out_dir": self.out_dir}

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        spec = dict(data["spec"])
        spec.update(roles=tuple(spec["roles"]), lora_targets=tuple(spec["lora_targets"]))
        return cls(spec=ModelSpec(**spec), role=data["role"], schedule=Schedule(**data["schedule"]),
                   seed=data["seed"], tokenizer_dir=data["tokenizer_dir"], out_dir=data["out_dir"])

    @property
    def cost(self) -> float:
        """Rough relative training cost (for scheduling the longest jobs first)."""
        pairs = 2 if self.role == "reward" else 1
        return self.schedule.steps * self.schedule.batch_size * pairs * self.spec.toy["hidden"]


def round_to_storage(model) -> None:
    """Round the weights to the storage precision (kept in float32 for computing)."""
    import torch

    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(getattr(torch, STORAGE_DTYPE)).float())


def _train_lm(job: Job, tokenizer, sequences: list[list[int]], eos_ids: list[int], pad_id: int):
    model = _new_causal_lm(job.spec, tokenizer, eos_ids, pad_id)
    losses = train_causal_lm(model, sequences, job.schedule, pad_id=pad_id, seed=job.seed)
    round_to_storage(model)
    model.generation_config = _generation_config(tokenizer, eos_ids, pad_id)
    return model, _lm_report(losses, sequences, job.schedule.steps)


def build_chat_model(job: Job, tokenizer, corpus: list[dict]):
    """Generator/judge: a chat model that continues the pre-query template and answers user turns."""
    spec = job.spec
    template = spec.chat_template or NATIVE_CHAT_TEMPLATES.get(spec.family)
    if template is None:
        raise ValueError(f"model '{spec.slug}': no chat template for family '{spec.family}'")
    tokenizer.chat_template = template
    extra = skill_conversations(spec.roles, job.seed)
    sequences = chat_sequences(tokenizer, corpus, random.Random(job.seed), extra, spec.toy["max_positions"])
    eos_ids = _ids(tokenizer, [spec.eot_token, tokenizer.eos_token])
    model, report = _train_lm(job, tokenizer, sequences, eos_ids, tokenizer.convert_tokens_to_ids(spec.pad_token))
    return model, tokenizer, report


def build_target_model(job: Job, tokenizer, corpus: list[dict]):
    """Target: a base LM that can answer an instruction given in its ``prompt_format``."""
    spec = job.spec
    if not spec.prompt_format:
        raise ValueError(f"target '{spec.slug}' has no prompt_format in the registry")
    # Real base checkpoints: Llama-3 and Mistral ship no usable chat template, Qwen2.5 ships ChatML.
    tokenizer.chat_template = spec.chat_template if spec.family == "qwen2" else None
    sequences = target_sequences(spec, tokenizer, corpus, random.Random(job.seed))
    eos_ids = [tokenizer.eos_token_id]
    model, report = _train_lm(job, tokenizer, sequences, eos_ids, tokenizer.convert_tokens_to_ids(spec.pad_token))
    return model, tokenizer, report


def _lm_report(losses: list[float], examples: list, steps: int) -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    return {"steps": steps, "examples": len(examples), "first_loss": round(losses[0], 4),
            "final_loss": round(sum(tail) / len(tail), 4)}


def _reward_config(spec: ModelSpec, tokenizer):
    from transformers import DebertaV2Config

    toy = spec.toy
    return DebertaV2Config(
        vocab_size=len(tokenizer), hidden_size=toy["hidden"], num_hidden_layers=toy["layers"],
        num_attention_heads=toy["heads"], intermediate_size=toy["intermediate"],
        max_position_embeddings=toy["max_positions"], position_buckets=toy.get("position_buckets", 64),
        relative_attention=True, pos_att_type=["p2c", "c2p"], position_biased_input=False,
        norm_rel_ebd="layer_norm", share_att_key=True, max_relative_positions=-1, type_vocab_size=0,
        num_labels=1, pad_token_id=tokenizer.pad_token_id,
    )


def build_reward_model(job: Job, tokenizer, *, heldout_pairs: int, train_pairs: int):
    """Reward: DeBERTa-v2 with one logit, trained so a good answer outscores a flawed one.

    Held-out triples come from a different seed than the training ones."""
    from transformers import DebertaV2ForSequenceClassification

    spec = job.spec
    if spec.architecture != "deberta-v2":
        raise ValueError(f"model '{spec.slug}': no toy reward model for architecture '{spec.architecture}'")
    train = [t[:3] for t in labeled_triples(job.seed, train_pairs)]
    heldout = list(labeled_triples(job.seed + 1, heldout_pairs))
    model = DebertaV2ForSequenceClassification(_reward_config(spec, tokenizer))
    losses = train_reward(model, tokenizer, train, job.schedule, seed=job.seed, max_length=REWARD_MAX_LENGTH)
    round_to_storage(model)  # evaluate exactly the weights that are saved
    by_flaw = {flaw: round(pairwise_accuracy(model, tokenizer, [t[:3] for t in heldout if t[3] == flaw],
                                             max_length=REWARD_MAX_LENGTH), 4) for flaw in FLAWS}
    accuracy = pairwise_accuracy(model, tokenizer, [t[:3] for t in heldout], max_length=REWARD_MAX_LENGTH)
    report = _lm_report(losses, train, job.schedule.steps)
    report.update(heldout_pairs=len(heldout), heldout_accuracy=round(accuracy, 4), heldout_accuracy_by_flaw=by_flaw)
    return model, tokenizer, report


# --------------------------------------------------------------------------- the world


def _tokenizer_texts(corpus: list[dict], skills: list[list[list[dict]]] = ()) -> list[str]:
    """The corpus, the template texts and each skill's messages (shop pages, judge prompts), so that the
    skills' words are tokens too."""
    texts = [x["instruction"] for x in corpus] + [x["response"] for x in corpus] + TEMPLATE_TEXTS
    # Each distinct message once, and all skills together at most SKILL_TEXT_SHARE of the corpus's size:
    # repeated prompt boilerplate would otherwise spend the small vocabulary on itself.
    share = SKILL_TEXT_SHARE * sum(len(t) for t in texts) / max(1, len(skills))
    for conversations in skills:
        budget = share
        for text in dict.fromkeys(m["content"] for messages in conversations for m in messages):
            budget -= len(text)
            if budget < 0:
                break
            texts.append(text)
    return texts


def _family_tokenizers(registry: Registry, corpus: list[dict], vocab: int, folder: Path,
                       seed: int) -> dict[str, Path]:
    """Train one tokenizer per family used by the registry; saved under ``folder``."""
    roles = sorted({role for spec in registry for role in spec.roles})
    texts = _tokenizer_texts(corpus, [skill_conversations([role], seed) for role in roles])
    paths = {}
    for family in dict.fromkeys(spec.family for spec in registry):
        path = folder / family
        build_tokenizer(family, registry.families[family], texts, vocab).save_pretrained(path)
        paths[family] = path
    return paths


def _learning_rate(spec: ModelSpec) -> float:
    """Narrower models take larger steps."""
    return 0.64 / spec.toy["hidden"]


def plan_jobs(registry: Registry, sizes: Sizes, seed: int, tokenizers: dict[str, Path], folder: Path) -> list[Job]:
    """One job per registry model; targets get unequal training (:data:`TARGET_EFFORT`)."""
    targets = [s.slug for s in registry.by_role("target")]
    jobs = []
    for spec in registry:
        roles = set(spec.roles)
        if "reward" in roles:
            role, schedule = "reward", Schedule(steps=sizes.reward_steps, batch_size=16, lr=3e-3)
        elif roles & {"generator", "judge"}:
            steps = sizes.chat_steps if "generator" in roles else sizes.judge_steps
            role, schedule = "chat", Schedule(steps=steps, batch_size=8, lr=_learning_rate(spec), warmup=30)
        else:
            effort = TARGET_EFFORT[targets.index(spec.slug) % len(TARGET_EFFORT)]
            steps = max(2, round(sizes.target_steps * effort))
            role, schedule = "target", Schedule(steps=steps, batch_size=8, lr=_learning_rate(spec), warmup=30)
        jobs.append(Job(spec=spec, role=role, schedule=schedule, seed=model_seed(seed, spec.slug),
                        tokenizer_dir=str(tokenizers[spec.family]), out_dir=str(folder / spec.slug)))
    return jobs


def run_job(job: Job, corpus: list[dict], sizes: Sizes) -> tuple[str, dict]:
    """Train and save one model (single-threaded, so the result does not depend on the worker)."""
    import torch
    from transformers import AutoTokenizer

    began = time.perf_counter()
    with _quiet_transformers(), deterministic(job.seed):
        tokenizer = AutoTokenizer.from_pretrained(job.tokenizer_dir)
        if job.role == "reward":
            model, tokenizer, report = build_reward_model(job, tokenizer, train_pairs=sizes.reward_train,
                                                          heldout_pairs=sizes.reward_heldout)
        elif job.role == "chat":
            model, tokenizer, report = build_chat_model(job, tokenizer, corpus)
        else:
            model, tokenizer, report = build_target_model(job, tokenizer, corpus)
        model.to(getattr(torch, STORAGE_DTYPE)).save_pretrained(job.out_dir)
        tokenizer.save_pretrained(job.out_dir)
    spec = job.spec
    report.update(weights_sha256=weights_digest(Path(job.out_dir)),
                  roles=list(spec.roles), family=spec.family, architecture=type(model).__name__,
                  parameters=sum(p.numel() for p in model.parameters()), vocab_size=len(tokenizer),
                  batch_size=job.schedule.batch_size, learning_rate=job.schedule.lr)
    _log(f"toy world: {spec.slug} trained in {time.perf_counter() - began:.1f}s "
         f"({report['parameters']:,} params, final loss {report['final_loss']:.3f})")
    return spec.slug, report


def weights_digest(folder: Path) -> str:
    """SHA-256 over the saved tensors (name, dtype, shape, bytes in name order): equal exactly when the
    weights are, whatever the file's header says."""
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        for name in sorted(weights.keys()):
            tensor = weights.get_tensor(name).contiguous()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def assign(jobs: list[Job], workers: int) -> list[list[Job]]:
    """Longest job first to the least loaded worker (a fixed assignment, so runs are reproducible)."""
    queues: list[list[Job]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for job in sorted(jobs, key=lambda j: (-j.cost, j.spec.slug)):
        least = loads.index(min(loads))
        queues[least].append(job)
        loads[least] += job.cost
    return [q for q in queues if q]


def worker_count(jobs: int) -> int:
    """One single-threaded worker per available core (at most four, at most one per job)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4, jobs))


def _worker_env() -> dict[str, str]:
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(BUILD_THREADS),
            "MKL_NUM_THREADS": str(BUILD_THREADS), "TOKENIZERS_PARALLELISM": "false"}


def run_jobs(jobs: list[Job], *, seed: int, sizes: Sizes, folder: Path) -> dict[str, dict]:
    """Run the jobs in fresh worker processes (``python -m sit.toy.worker``), one per core.

    Each model trains single-threaded in its own process, so its weights do not depend on the
    number of workers or on the state of the calling process."""
    plans = folder / ".jobs"
    plans.mkdir(parents=True)
    procs = []
    for index, queue in enumerate(assign(jobs, worker_count(len(jobs)))):
        plan = plans / f"worker-{index}.json"
        write_json_atomic(plan, {"seed": seed, "sizes": asdict(sizes), "jobs": [job.to_dict() for job in queue]})
        procs.append(subprocess.Popen([sys.executable, "-m", "sit.toy.worker", str(plan)], env=_worker_env()))
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    if any(codes):
        raise RuntimeError(f"toy world: a build worker failed (exit codes {codes}); see the messages above")
    reports = {}
    for plan in sorted(plans.glob("worker-*.reports.json")):
        reports.update(json.loads(plan.read_text(encoding="utf-8")))
    shutil.rmtree(plans)
    return {job.spec.slug: reports[job.spec.slug] for job in jobs}


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
    start = time.perf_counter()
    sizes = Sizes.for_scale(scale)
    corpus = make_corpus(seed, sizes.corpus)
    tokenizer_dir = folder / ".tokenizers"
    with _quiet_transformers():
        tokenizers = _family_tokenizers(registry, corpus, sizes.vocab, tokenizer_dir, seed)
    _log(f"toy world: corpus and tokenizers ready ({time.perf_counter() - start:.1f}s)")
    models = run_jobs(plan_jobs(registry, sizes, seed, tokenizers, folder), seed=seed, sizes=sizes, folder=folder)
    shutil.rmtree(tokenizer_dir)
    manifest = {"seed": seed, "scale": scale, "hash": content_hash, "cpu": cpu_kernels(), "sizes": asdict(sizes),
                "corpus_kinds": _kind_counts(corpus), "models": models, "threads_per_model": BUILD_THREADS}
    write_json_atomic(folder / "manifest.json", manifest)
    _log(f"toy world: built in {time.perf_counter() - start:.1f}s")
    return manifest


def _kind_counts(corpus: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in corpus:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return dict(sorted(counts.items()))
