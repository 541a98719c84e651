"""How many tokens each decoding phase is expected to generate, where that figure comes from, and what
a static batch of such rows costs.

A transformers batch decodes until its longest row stops (or hits the token limit), so the time of a
phase depends on the *longest* answer of each batch, not the mean. The plan costs every batch at the
expected maximum of ``batch`` draws from the phase's length distribution, capped at the limit (the
expected total), and at the limit itself (the upper bound).

The distribution is a log-normal fitted to a mean and a 90th percentile. Those come, in this order,
from the ``num_tokens`` that earlier steps of the same workspace recorded (01's instructions and
answers, 03's answers, the held-out answers, MT-Bench answers), from public measurements (below),
or from the planner's own assumption, which the plan then names as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

Z90 = 1.2815515655446004  # the standard normal's 90th percentile


@dataclass(frozen=True)
class Lengths:
    """Generated tokens of one phase: mean and 90th percentile, and where they come from."""

    mean: float
    p90: float
    source: str
    measured: bool = False  # recorded in this workspace

    def capped(self, limit: int) -> Lengths:
        """The same answers under another token limit (what the limit cuts off counts as the limit)."""
        return Lengths(min(self.mean, limit), min(self.p90, limit), self.source, self.measured)


# Public lengths (tokens of the answer, not the prompt).
PUBLIC = {
    "ifeval": Lengths(300, 635, "published: GPT-4's IFEval answers, google-research "
                                "input_response_data_gpt4_20231107_145030.jsonl"),
    "mt_bench": Lengths(345, 650, "published: Llama-3-8B-Instruct's MT-Bench answers, mean ~330-360"),
    "judge": Lengths(190, 330, "published: FastChat's GPT-4 single-answer judgments"),
    "response": Lengths(500, 900, "published: Llama-3.1-8B-Instruct answers, AlpacaEval 2.0 average 2,181 characters; "
                                  "p90 assumed 1.8x the mean"),
}
# Public prompt lengths the plan also needs.
JUDGE_PROMPT_TOKENS = 1250  # FastChat judge prompts with the answer: 1,100-1,400 tokens


def assumed(limit: int, fraction: float) -> Lengths:
    """The planner's own assumption when nothing was recorded or published: ``fraction`` of the limit on
    average, p90 at the limit."""
    return Lengths(max(fraction * limit, 1), limit, f"assumed: {fraction:.0%} of the limit on average, p90 at the "
                                                    "limit (nothing recorded or published)")


def recorded(path: Path, field: str, *, world: str | None = None, min_rows: int = 20) -> Lengths | None:
    """Mean and p90 of ``field`` in a workspace's JSONL records, or None when there are too few, or when the
    folder's manifest does not say they come from ``world`` (``hub``, ``toy``)."""
    from ..manifest import manifest_world, read_manifest
    from ..store import iter_jsonl

    if not path.is_file():
        return None
    folder_world = next((manifest_world(read_manifest(folder) or {}) for folder in (path.parent, path.parent.parent)
                         if read_manifest(folder)), None)

    def same_world(row: dict) -> bool:  # a toy run's lengths say nothing about the hub models, and the other way round
        made_in = (row.get("gen") or {}).get("world") or folder_world
        return world is None or (made_in is not None and made_in.split(":")[0] == world.split(":")[0])

    values = sorted(int(row[field]) for _, row in iter_jsonl(path)
                    if isinstance(row, dict) and isinstance(row.get(field), int) and row[field] > 0 and same_world(row))
    if len(values) < min_rows:
        return None
    p90 = values[min(int(0.9 * len(values)), len(values) - 1)]
    return Lengths(sum(values) / len(values), max(p90, 1), f"recorded in this workspace: {len(values)} rows of "
                                                           f"{path.parent.name}/{path.name}", measured=True)


def _sigma(mean: float, p90: float) -> float:
    """The log-normal's sigma with this mean and p90: ln(p90/mean) = Z90*s - s^2/2 (the smaller root)."""
    gap = math.log(max(p90, mean) / mean)
    disc = Z90 * Z90 - 2 * gap
    return Z90 - math.sqrt(disc) if disc > 0 else Z90


def expected_max(lengths: Lengths, batch: int, limit: int, steps: int = 400) -> float:
    """E[min(max of ``batch`` draws, limit)] = integral from 0 to limit of 1 - F(x)^batch."""
    if lengths.mean >= limit:
        return float(limit)
    sigma = _sigma(lengths.mean, lengths.p90)
    mu = math.log(lengths.mean) - sigma * sigma / 2
    total, dx = 0.0, limit / steps
    for i in range(steps):
        x = (i + 0.5) * dx
        cdf = 0.5 * (1 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2))))
        total += (1 - cdf ** max(batch, 1)) * dx
    return total
