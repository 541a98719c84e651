"""Chosen-vs-rejected pairs from scored candidates (pure logic, no models).

For each instruction the highest-scored candidate is *chosen* and the lowest-scored one *rejected*
(the Magpie-DPO recipe). An instruction is skipped, and the reason counted, when fewer than two
non-empty candidates remain, when the two texts are the same after whitespace normalisation, when
the scores tie, when the margin is below ``min_margin``, or when a score is NaN/inf (a reward model that
overflowed in fp16: its ranking means nothing, and a warning names the instructions). The rest are ranked by margin and the
best ``target_pairs`` are kept. Records are in the conversational format TRL's ``DPOTrainer`` reads.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from dataclasses import dataclass, field

GENERATOR_SOURCE = "generator (Magpie answer)"  # the candidate source of the generator's own answers
SKIP_REASONS = ("single_candidate", "empty_response", "identical_texts", "tie", "low_margin", "non_finite_score")


@dataclass(frozen=True)
class Candidate:
    """One scored answer to one instruction."""

    model: str
    response: str
    score: float


@dataclass
class Selection:
    """Kept pairs (best margin first), and what was left out and why."""

    pairs: list[dict]
    skipped: Counter = field(default_factory=Counter)
    eligible: int = 0

    @property
    def beyond_target(self) -> int:
        """Eligible pairs left out only because ``target_pairs`` were already kept."""
        return self.eligible - len(self.pairs)


def normalise(text: str) -> str:
    """Whitespace-insensitive form used to compare two answers."""
    return " ".join(text.split())


def choose(candidates: list[Candidate], min_margin: float) -> tuple[Candidate, Candidate] | str:
    """``(chosen, rejected)`` for one instruction, or the reason it yields no pair."""
    non_empty = [c for c in candidates if normalise(c.response)]
    if len(non_empty) < 2:
        return "empty_response" if len(candidates) >= 2 else "single_candidate"
    if not all(math.isfinite(c.score) for c in non_empty):
        return "non_finite_score"
    ranked = sorted(non_empty, key=lambda c: (-c.score, c.model))  # ties resolved by model name
    chosen, rejected = ranked[0], ranked[-1]
    if normalise(chosen.response) == normalise(rejected.response):
        return "identical_texts"
    margin = chosen.score - rejected.score
    if margin == 0:
        return "tie"
    if margin < min_margin:
        return "low_margin"
    return chosen, rejected


def pair_record(item_id: str, instruction: str, chosen: Candidate, rejected: Candidate, n_candidates: int) -> dict:
    """A conversational DPO record (``prompt``/``chosen``/``rejected`` message lists) plus metadata."""
    return {
        "id": item_id,
        "prompt": [{"role": "user", "content": instruction}],
        "chosen": [{"role": "assistant", "content": chosen.response}],
        "rejected": [{"role": "assistant", "content": rejected.response}],
        "chosen_model": chosen.model,
        "rejected_model": rejected.model,
        "chosen_score": chosen.score,
        "rejected_score": rejected.score,
        "margin": chosen.score - rejected.score,
        "n_candidates": n_candidates,
    }


def select_pairs(instructions: list[dict], candidates: dict[str, list[Candidate]], *, min_margin: float,
                 target_pairs: int) -> Selection:
    """Pairs for ``instructions`` (records with ``id`` and ``instruction``), best ``target_pairs`` by margin."""
    if target_pairs <= 0:
        raise ValueError(f"target_pairs must be > 0, got {target_pairs}")
    eligible, skipped, refused = [], Counter(), []
    for item in instructions:
        found = candidates.get(item["id"], [])
        outcome = choose(found, min_margin)
        if isinstance(outcome, str):
            skipped[outcome] += 1
            if outcome == "non_finite_score":
                refused.append(item["id"])
            continue
        eligible.append(pair_record(item["id"], item["instruction"], *outcome, n_candidates=len(found)))
    if refused:
        shown = ", ".join(refused[:20]) + (f" and {len(refused) - 20} more" if len(refused) > 20 else "")
        warnings.warn(f"no pair for {len(refused)} instruction(s) with a non-finite reward score (NaN/inf): {shown}",
                      stacklevel=2)
    eligible.sort(key=lambda p: (-p["margin"], p["id"]))
    return Selection(pairs=eligible[:target_pairs], skipped=skipped, eligible=len(eligible))


def margin_stats(pairs: list[dict]) -> dict:
    """Min / mean / median / max margin of the kept pairs (None when there are none)."""
    margins = [p["margin"] for p in pairs]
    if not margins:
        return {"min": None, "mean": None, "median": None, "max": None}
    return {"min": min(margins), "mean": statistics.fmean(margins), "median": statistics.median(margins),
            "max": max(margins)}


@dataclass(frozen=True)
class AnswerSource:
    """Which candidate one side of a pair was: ``model``'s Magpie answer (its response in the filtered set, which
    the preference step copies verbatim) or ``model``'s answer as a target."""

    model: str
    magpie: bool


def answer_sources(pair: dict, magpie_answers: dict[str, str], generator: str | None) -> tuple[AnswerSource, ...]:
    """(chosen, rejected) sources of one pair. ``pairs.jsonl`` names only the model that wrote each side, so a
    generator that is also a target wrote two candidates under one id; its Magpie answer is the one whose text
    is the filtered set's response. ``magpie_answers``: id -> that response, empty when the generator's
    answers were no candidates. Older runs named the generator's answers ``GENERATOR_SOURCE``."""
    magpie = magpie_answers.get(pair["id"])

    def source(side: str) -> AnswerSource:
        model, text = pair[f"{side}_model"], pair[side][-1]["content"]
        if model == GENERATOR_SOURCE:
            return AnswerSource(generator or model, True)
        return AnswerSource(model, model == generator and magpie is not None and normalise(text) == normalise(magpie))

    return source("chosen"), source("rejected")


def source_counts(pairs: list[dict], magpie_answers: dict[str, str], generator: str | None) -> dict[str, Counter]:
    """How often each candidate source was chosen and rejected among ``pairs``."""
    counts = {"chosen": Counter(), "rejected": Counter()}
    for pair in pairs:
        chosen, rejected = answer_sources(pair, magpie_answers, generator)
        counts["chosen"][chosen] += 1
        counts["rejected"][rejected] += 1
    return counts


def role_counts(pairs: list[dict], models: list[str]) -> dict:
    """How often each model's answer was chosen and rejected among the kept pairs."""
    chosen = Counter(p["chosen_model"] for p in pairs)
    rejected = Counter(p["rejected_model"] for p in pairs)
    return {"chosen": {m: chosen[m] for m in models}, "rejected": {m: rejected[m] for m in models}}
