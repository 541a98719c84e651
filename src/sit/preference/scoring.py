"""A reward model scores each (instruction, answer) pair; the score is stored beside the answer.

The reward model (OpenAssistant's DeBERTa-v3 reward model in the spec) is a sequence classifier
with a single logit, read as a scalar reward: ``tokenizer(question, answer)`` as a text pair,
truncated to ``reward_max_length`` tokens. Pairs are scored in batches of similar length.

Each scored record gains ``score`` and ``scored_with`` (the reward settings). A responses file is
rewritten atomically once all of its missing scores are computed, so a killed run leaves the file
as it was and the next run scores what is still missing; records already scored with the current
settings are never scored again.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..models import load_reward_model, load_tokenizer
from ..progress import draws_bars
from ..store import read_jsonl, write_jsonl_atomic
from .inputs import PHASE, preference_settings, read_filtered
from .responses import cuda_allocated, free_memory

if TYPE_CHECKING:
    from ..session import Session

GENERATOR_SLUG = "magpie-generator"  # the generator's own answers, copied from the filtered set


@dataclass
class ScoreResult:
    """One responses file after scoring: its records and how many were scored in this call."""

    path: Path
    records: list[dict]
    newly_scored: int


def reward_spec(session: Session):
    return session.model(session.registry.by_role("reward")[0].id, role="reward")


def reward_fingerprint(session: Session, cfg: dict) -> dict:
    """What decides a score; a record scored with other settings is scored again."""
    return {"model": reward_spec(session).id, "world": session.world_id, "seed": session.seed,
            "max_length": cfg["reward_max_length"]}


def reward_inputs(tokenizer, questions: list[str], answers: list[str], max_length: int):
    """The reward model's input: question and answer as a text pair, truncated, padded to the batch."""
    return tokenizer(questions, answers, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def reward_scores(model, tokenizer, pairs: list[tuple[str, str]], *, batch_size: int, max_length: int,
                  progress: bool = False, desc: str = "scoring") -> list[float]:
    """One scalar reward per ``(question, answer)``, in input order; batches group similar lengths."""
    import torch
    from tqdm.auto import tqdm

    lengths = [len(tokenizer(q, a, truncation=True, max_length=max_length)["input_ids"]) for q, a in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (lengths[i], i))
    scores: list[float] = [0.0] * len(pairs)
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not draws_bars(progress)):
        rows = order[start:start + batch_size]
        batch = reward_inputs(tokenizer, [pairs[i][0] for i in rows], [pairs[i][1] for i in rows], max_length)
        with torch.inference_mode():
            logits = model(**batch.to(model.device)).logits
        if logits.shape[-1] != 1:
            raise ConfigError(f"the reward model returned {logits.shape[-1]} logits per input; it must return one")
        for i, value in zip(rows, logits[:, 0].float().tolist(), strict=True):
            scores[i] = value
    return scores


def needs_score(record: dict, scored_with: dict) -> bool:
    return "score" not in record or record.get("scored_with") != scored_with


def score_files(session: Session, paths: list[Path], cfg: dict, *, progress: bool = True) -> list[ScoreResult]:
    """Score what each responses file still lacks, loading the reward model once (only if needed)."""
    scored_with = reward_fingerprint(session, cfg)
    contents = [read_jsonl(p) for p in paths]
    if not any(needs_score(r, scored_with) for records in contents for r in records):
        return [ScoreResult(p, records, 0) for p, records in zip(paths, contents, strict=True)]
    spec = reward_spec(session)
    tokenizer = load_tokenizer(spec, session.profile, padding_side="right")  # [CLS] pooling reads position 0
    model = load_reward_model(spec, session.profile)
    results = [_score_file(model, tokenizer, p, records, scored_with, cfg, progress)
               for p, records in zip(paths, contents, strict=True)]
    loaded = cuda_allocated()
    del model, tokenizer
    free_memory(loaded, verbose=progress)
    return results


def _score_file(model, tokenizer, path, records, scored_with, cfg, progress) -> ScoreResult:
    todo = [r for r in records if needs_score(r, scored_with)]
    if todo:
        values = reward_scores(model, tokenizer, [(r["instruction"], r["response"]) for r in todo],
                               batch_size=cfg["reward_batch_size"], max_length=cfg["reward_max_length"],
                               progress=progress, desc=f"scoring {path.stem}")
        broken = sum(not math.isfinite(v) for v in values)
        if broken:
            warnings.warn(f"{scored_with['model']} returned a non-finite score (NaN/inf) for {broken} of {len(values)} "
                          f"answers in {path.name} (an fp16 overflow?); no preference pair is made from them",
                          stacklevel=2)
        for record, value in zip(todo, values, strict=True):
            record.update(score=value, scored_with=scored_with)
        write_jsonl_atomic(path, records)
    return ScoreResult(path, records, len(todo))


def score(session: Session, model_name: str, *, progress: bool = True, **overrides) -> list[ScoreResult]:
    """Score one target model's answers (after :func:`sit.preference.respond`), and the generator's own
    answers too when ``include_generator_response`` is on; one result per responses file."""
    session.step_started(PHASE)  # the pairs' manifest times the step from here (when respond did not run)
    cfg = preference_settings(session, overrides)
    spec = session.registry.get(model_name, role="target")
    path = session.workspace.responses_file(spec.slug)
    if not path.exists():
        raise FileNotFoundError(f"no answers from '{spec.id}' at {path}; run respond(session, {spec.id!r}) first")
    paths = [path]
    if cfg["include_generator_response"]:
        paths.append(generator_candidates(session, read_filtered(session)))
    return score_files(session, paths, cfg, progress=progress)


def generator_candidates(session: Session, filtered: list[dict]) -> Path:
    """Copy the generator's own (Magpie) answers from the filtered set into a responses file.

    Scores already stored for an unchanged (instruction, answer) are kept; the file is rewritten
    only when its content changes."""
    path = session.workspace.responses_file(GENERATOR_SLUG)
    old = {r["id"]: r for r in read_jsonl(path)} if path.exists() else {}
    records = []
    for item in filtered:
        record = {"id": item["id"], "instruction": item["instruction"], "response": item["response"],
                  "model": item["generator"], "gen": {"source": "filtered set"}}
        previous = old.get(item["id"], {})
        if all(previous.get(k) == v for k, v in record.items()) and "score" in previous:
            record = previous
        records.append(record)
    if list(old.values()) != records:
        write_jsonl_atomic(path, records)
    return path
