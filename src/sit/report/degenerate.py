"""Results that measure nothing, found in the per-item records and named instead of judged.

A model that gives the same MMLU letter to every question scores the share of that letter in the key
(0.25 on a balanced key, anything on an unbalanced one) without knowing anything; a judge that gives
almost every answer the same rating cannot tell two stages apart; an agent that never makes a valid move
has a reward of 0 whatever it learned. A comparison that involves such a result gets no verdict: the
report says what happened instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..evaluation.degenerate import constant_answer, judge_alike, mt_bench_ratings, no_valid_move
from .evidence import STAGE_ORDER, Evidence

ANY = "*"  # a judge's degeneracy concerns every model and stage it rated


@dataclass(frozen=True)
class Degenerate:
    model: str  # model id (or agent label); ANY for the judge
    stage: str  # stage; ANY for the judge
    benchmark: str  # mmlu, mt_bench, webshop
    what: str  # what happened, as a reader reads it ("answers B to all 24 questions")
    kind: str  # constant answer | judge rates alike | no valid move

    def concerns(self, model: str, stage: str, benchmark: str) -> bool:
        return self.benchmark == benchmark and self.model in (ANY, model) and self.stage in (ANY, stage)


def find_degenerate(ev: Evidence) -> list[Degenerate]:
    """Every degenerate result the workspace holds: constant MMLU answers, a judge that rates alike, agents
    that never make a valid move."""
    found = []
    for (model, stage, benchmark), items in sorted(ev.items.items(),
                                                   key=lambda kv: (kv[0][0], STAGE_ORDER.get(kv[0][1], 9))):
        if benchmark == "mmlu" and (what := constant_answer(items)):
            found.append(Degenerate(model, stage, "mmlu", what, "constant answer"))
    ratings = mt_bench_ratings([items for (_, _, b), items in ev.items.items() if b == "mt_bench"])
    if what := judge_alike(ratings):
        found.append(Degenerate(ANY, ANY, "mt_bench", what, "judge rates alike"))
    for (agent, stage), episodes in sorted(ev.episodes.items()):
        if what := no_valid_move(episodes):
            found.append(Degenerate(agent, stage, "webshop", what, "no valid move"))
    return found


def end_counts(episodes: list[dict]) -> Counter:
    """How the episodes ended (bought, invalid_format, round_limit...)."""
    return Counter(e.get("end") or "unknown" for e in episodes)


__all__ = ["ANY", "Degenerate", "end_counts", "find_degenerate"]
