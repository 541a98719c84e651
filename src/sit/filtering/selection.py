"""Choosing the target number of examples among those that passed every filter."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .rules import word_count


def select(records: Sequence[dict], mode: str, target: int | None, seed: int) -> tuple[list[int], dict]:
    """Indices (in input order) of the records to keep, and a description of the choice.

    ``longest``: the ``target`` longest responses, in words (ties: the earlier record), as Magpie
    does. ``random``: a uniform sample drawn with ``seed``. ``all``: everything. When no more than
    ``target`` records passed, all of them are kept and ``shortfall`` says how many are missing."""
    count = len(records)
    info = {"mode": mode, "target": target, "candidates": count}
    if mode == "all" or target is None or count <= target:
        chosen = list(range(count))
    elif mode == "longest":
        by_length = sorted(range(count), key=lambda i: -word_count(records[i]["response"]))
        chosen = sorted(by_length[:target])
        info["min_response_words"] = word_count(records[by_length[target - 1]]["response"])
    elif mode == "random":
        chosen = sorted(random.Random(seed).sample(range(count), target))
        info["seed"] = seed
    else:
        raise ValueError(f"unknown selection mode '{mode}' (known: longest, random, all)")
    info.update(selected=len(chosen), dropped=count - len(chosen),
                shortfall=max(0, target - count) if target is not None and mode != "all" else 0)
    return chosen, info


def selection_reason(info: dict) -> str:
    """Why a record that passed the filters was not selected."""
    if info["mode"] == "longest":
        return (f"not among the {info['target']} longest responses "
                f"(shortest selected: {info['min_response_words']} words)")
    return f"not in the random sample of {info['target']} (seed {info['seed']})"
