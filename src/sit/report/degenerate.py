"""Results that measure nothing, found in the per-item records and named instead of judged.

A model that gives the same MMLU letter to every question scores the share of that letter in the key
(0.25 on a balanced key, anything on an unbalanced one) without knowing anything; a judge that gives
almost every answer the same rating cannot tell two stages apart, and one that rates fewer than half the turns
leaves a mean over its few chance ratings; an agent that never makes a valid move
has a reward of 0 whatever it learned. A comparison that involves such a result gets no verdict: the
report says what happened instead.
"""

from __future__ import annotations

from collections import Counter

from ..evaluation.degenerate import ANY, Degenerate
from ..evaluation.degenerate import find_degenerate as degenerate_results
from .evidence import Evidence


def find_degenerate(ev: Evidence) -> list[Degenerate]:
    """Every degenerate result the workspace holds: constant MMLU answers, a judge that fails to rate or rates
    alike, agents that never make a valid move (the walker the comparison uses too)."""
    return degenerate_results(ev.items, ev.episodes)


def end_counts(episodes: list[dict]) -> Counter:
    """How the episodes ended (bought, invalid_format, round_limit...)."""
    return Counter(e.get("end") or "unknown" for e in episodes)


__all__ = ["ANY", "Degenerate", "end_counts", "find_degenerate"]
