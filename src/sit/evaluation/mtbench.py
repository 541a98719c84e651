"""MT-Bench answers: both turns of every question, from one model stage, resumable.

Turn 1 is asked first for every question; turn 2 is asked once its question's first answer is
stored, so the second prompt holds the first answer (the conversation as FastChat runs it). Prompts
go through the stage's chat template (the base stage: its completion format, see
:func:`sit.preference.base_prompting.completion_template`, stopped where phase 03 stops it), decoding uses
FastChat's temperature for the question's category, and batches run through :func:`sit.inference.runner.run_stage`, so answers
are checkpointed and a killed run resumes where it stopped. Every record carries the fingerprint of
what produced it; a file written with other settings is refused, not mixed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..inference.engine import Completion, HFBackend, Prompt, SamplingSettings
from ..inference.runner import BatchLimit, run_stage
from ..models import stop_token_ids
from ..preference.base_prompting import base_stops
from ..runtime import derive_seed
from ..store import JsonlStore
from .mtbench_data import temperature

if TYPE_CHECKING:
    from ..session import Session


def item_id(question_id: int, turn: int) -> str:
    return f"{question_id}-{turn}"


def stage_dir(session: Session, slug: str, stage: str) -> Path:
    return session.workspace.mt_bench_dir(slug, stage)


def check_fingerprint(path: Path, records: list[dict], fingerprint: dict, field: str) -> None:
    for record in records:
        if record.get(field) != fingerprint:
            old = record.get(field) or {}
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in fingerprint.items() if old.get(k) != v)
            raise ConfigError(f"{path} holds records made with other settings ({changes}). Refusing to mix them. "
                              f"To start fresh, delete {path} (or use another workspace).")


def render(tokenizer, messages: list[dict]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def answer_questions(store: JsonlStore, questions: list[dict], model, tokenizer, spec, *, fingerprint: dict,
                     seed: int, stage: str, settings: dict, progress: bool = False,
                     batch_limit: BatchLimit | None = None) -> dict[str, dict]:
    """Answers for both turns of every question (``{item_id: record}``), generating only what is missing.

    A batch halved after an out-of-memory error stays halved for every turn, and for every later stage
    that is given the same ``batch_limit``."""
    check_fingerprint(store.path, store.read(), fingerprint, "gen")
    backend = HFBackend(model, tokenizer, label=f"{spec.id} ({stage})")
    limit = batch_limit if batch_limit is not None else BatchLimit()
    stops, stop_strings = (base_stops(spec, tokenizer) if stage == "base"
                           else (tuple(stop_token_ids(spec, tokenizer)), ()))
    done: dict[str, dict] = {}
    for turn in (1, 2):
        by_temperature: dict[float, list[Prompt]] = defaultdict(list)
        for q in questions:
            messages = []
            for earlier in range(1, turn):
                messages += [{"role": "user", "content": q["turns"][earlier - 1]},
                             {"role": "assistant", "content": done[item_id(q["question_id"], earlier)]["answer"]}]
            messages.append({"role": "user", "content": q["turns"][turn - 1]})
            pid = item_id(q["question_id"], turn)
            by_temperature[temperature(q["category"])].append(Prompt(
                id=pid, text=render(tokenizer, messages), seed=derive_seed(seed, "mt-bench-answer", spec.slug, stage, pid),
                meta={"question": q, "turn": turn}, messages=messages))
        for temp, prompts in sorted(by_temperature.items()):
            sampling = SamplingSettings(max_new_tokens=int(settings["max_new_tokens"]), temperature=temp,
                                        stop_token_ids=stops, stop_strings=stop_strings)

            def record(prompt: Prompt, completion: Completion, temp: float = temp) -> dict:
                q = prompt.meta["question"]
                return {"id": prompt.id, "question_id": q["question_id"], "category": q["category"],
                        "turn": prompt.meta["turn"], "question": q["turns"][prompt.meta["turn"] - 1],
                        "answer": completion.text, "answer_tokens": completion.num_tokens,
                        "finish_reason": completion.finish_reason, "prompt_trimmed": completion.prompt_trimmed,
                        "temperature": temp, "gen": fingerprint}

            records, _ = run_stage(store, prompts, backend, sampling, make_record=record,
                                   batch_size=int(settings["batch_size"]),
                                   checkpoint_every=int(settings["checkpoint_every"]), bucket=True,
                                   desc=f"MT-Bench turn {turn} (T={temp})", progress=progress, batch_limit=limit)
            done.update({r["id"]: r for r in records})
    return done
