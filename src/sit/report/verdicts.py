"""Plain-language verdicts: does a later stage beat an earlier one, judged by non-overlapping 95% intervals."""

from __future__ import annotations

from .document import fmt
from .evidence import ci

STAGE_NAMES = {"base": "base", "sft": "SFT", "dpo": "SFT+DPO"}
COMPARISONS = (("sft", "base"), ("dpo", "sft"), ("dpo", "base"))


def compare(a: tuple[float, float | None, float | None], b: tuple[float, float | None, float | None]) -> str:
    """``higher``/``lower`` when the intervals do not overlap, else ``no clear difference``."""
    (_, a_low, a_high), (_, b_low, b_high) = a, b
    if None in (a_low, a_high, b_low, b_high):
        return "no interval to judge"
    if a_low > b_high:
        return "higher"
    if a_high < b_low:
        return "lower"
    return "no clear difference"


def _sentence(label: str, later: str, earlier: str, a, b, verdict: str) -> str:
    def show(stage, point):
        value, low, high = point
        interval = f" [{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else ""
        return f"{STAGE_NAMES.get(stage, stage)} {fmt(value)}{interval}"

    if verdict in ("higher", "lower"):
        return f"{label}: {show(later, a)} is **{verdict}** than {show(earlier, b)}."
    return f"{label}: {show(later, a)} vs {show(earlier, b)}: {verdict} (95% intervals overlap)."


def verdicts(points: dict[tuple[str, str], dict[str, tuple]]) -> list[str]:
    """Sentences for every (model, measure) with at least two stages.

    ``points[(model, measure)][stage] = (value, ci_low, ci_high)``."""
    out = []
    for (model, measure), by_stage in sorted(points.items()):
        label = f"{model.split('/')[-1]}, {measure}"
        for later, earlier in COMPARISONS:
            if later in by_stage and earlier in by_stage:
                a, b = by_stage[later], by_stage[earlier]
                out.append(_sentence(label, later, earlier, a, b, compare(a, b)))
    return out


def result_points(rows: list[dict]) -> dict:
    points: dict = {}
    for row in rows:
        if row.get("value") is None:
            continue
        low, high, _ = ci(row)
        points.setdefault((row["model"], f"{row['benchmark']} {row['metric']}"), {})[row["stage"]] = \
            (row["value"], low, high)
    return points


def stage_points(rows: list[dict]) -> dict:
    points: dict = {}
    for row in rows:
        if row.get("mean_reward") is None:
            continue
        points.setdefault((row["model"], "held-out reward"), {})[row["stage"]] = \
            (row["mean_reward"], row.get("ci_low"), row.get("ci_high"))
    return points
