"""Checks of a finished workspace's deliverables against each other, as functions of the workspace.

The demo run (tests/test_demo_run.py) applies them to what `make demo` leaves; each returns the list of
problems it found (empty: the check holds), so a failure names every offending line at once.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

VERDICT = r"(higher|lower|no clear change)"
INTERVAL = r"([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]"
MEANS = r"(?:(-?\d+\.\d+) → (-?\d+\.\d+), )?"
# a sentence: "**lower** (5.900 → 4.500, -1.400 [-2.200, -0.600]"; the two paired means come first
SENTENCE = re.compile(VERDICT + r"\** \(" + MEANS + INTERVAL)
# a headline-table row in report.md: "| n | base | stage mean | change [95% CI] | verdict |"
TABLE_ROW = re.compile(r"\| (\d[\d,]*|–) \| (-?\d+\.\d+|–) \| (-?\d+\.\d+|–) \| " + INTERVAL + r" \| ([^|]+) \|")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _num(text: str | None) -> float:
    return float(text) if text not in (None, "") else math.nan


def printed_changes(text: str) -> list[tuple[float, float, float, float, float, str]]:
    """(base, stage, change, low, high, verdict) of every change printed with its two means."""
    found = [(float(a), float(b), float(d), float(lo), float(hi), v)
             for v, a, b, d, lo, hi in SENTENCE.findall(text) if a]
    found += [(float(a), float(b), float(d), float(lo), float(hi), v.strip())
              for _, a, b, d, lo, hi, v in TABLE_ROW.findall(text) if a != "–" and b != "–"]
    return found


def changes_match_means(ws: Path) -> list[str]:
    """Every printed change equals the difference of the two means printed beside it: report.md, summary.md,
    comparison.csv and stages.csv."""
    problems = []
    report = (ws / "evaluation/report.md").read_text(encoding="utf-8")
    found = printed_changes(report)
    if not found:
        problems.append("report.md prints no change with its two means")
    for base, stage, change, low, high, verdict in found:
        if abs(round(stage - base, 3) - change) > 1e-9:
            problems.append(f"report.md: {base:.3f} → {stage:.3f} printed with change {change:+.3f}")
        expected = "higher" if low > 0 else "lower" if high < 0 else "no clear change"
        if verdict in ("higher", "lower", "no clear change") and verdict != expected:
            problems.append(f"report.md: {verdict} printed beside [{low}, {high}]")
    for row in _csv(ws / "evaluation/comparison.csv"):
        if "dropped" not in row:
            problems.append("comparison.csv: no dropped column; base and value may not be the paired means")
        elif row["n"] not in ("", "0") and abs(_num(row["value"]) - _num(row["base"]) - _num(row["delta"])) > 1e-9:
            problems.append(f"comparison.csv: {row['model']} {row['stage']} {row['metric']}: "
                            f"{row['value']} - {row['base']} != {row['delta']}")
    for row in _csv(ws / "evaluation/stages.csv"):
        if row.get("vs") and not abs(_num(row.get("stage_mean")) - _num(row.get("vs_mean")) - _num(row["delta"])) <= 1e-9:
            problems.append(f"stages.csv: {row['model']} {row['stage']}: paired means do not give the delta")
    summary = (ws / "evaluation/summary.md").read_text(encoding="utf-8")
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 11 and re.fullmatch(r"[+-]\d+\.\d+", cells[6]):
            base, stage, change = float(cells[4]), float(cells[5]), float(cells[6])
            if abs(round(stage - base, 3) - change) > 1e-9:
                problems.append(f"summary.md: {line}")
    return problems


def one_interval_per_comparison(ws: Path) -> list[str]:
    """The held-out reward change of SFT against base is in stages.csv (notebook 05) and comparison.csv (notebook
    06, the report): the same interval in both, and the report prints it."""
    problems = []
    comparison = {(r["model"], r["stage"]): r for r in _csv(ws / "evaluation/comparison.csv")
                  if r["benchmark"] == "reward"}
    report = (ws / "evaluation/report.md").read_text(encoding="utf-8")
    checked = 0
    for row in _csv(ws / "evaluation/stages.csv"):
        if row.get("vs") != "base" or (row["model"], row["stage"]) not in comparison:
            continue
        other = comparison[(row["model"], row["stage"])]
        pairs = [(row["delta"], other["delta"]), (row["delta_low"], other["ci_low"]),
                 (row["delta_high"], other["ci_high"])]
        if any(abs(_num(a) - _num(b)) > 1e-9 for a, b in pairs):
            problems.append(f"{row['model']} {row['stage']}: stages.csv {[a for a, _ in pairs]} != "
                            f"comparison.csv {[b for _, b in pairs]}")
        printed = f"[{_num(row['delta_low']):+.3f}, {_num(row['delta_high']):+.3f}]"
        if printed not in report:
            problems.append(f"{row['model']} {row['stage']}: the report does not print {printed}")
        checked += 1
    if not checked:
        problems.append("no comparison is in both stages.csv and comparison.csv")
    return problems


def degenerate_named(ws: Path) -> list[str]:
    """Every degenerate result of the workspace is named in the report, and no verdict is printed for it."""
    from sit.config import load_registry
    from sit.report.degenerate import find_degenerate
    from sit.report.evidence import read_evidence

    report = " ".join((ws / "evaluation/report.md").read_text(encoding="utf-8").split())
    problems = [f"not named: {d.what}" for d in find_degenerate(read_evidence(ws, load_registry()))
                if d.what not in report]
    for row in TABLE_ROW.findall(report):
        if "degenerate" in row[-1] and row[-1].strip().startswith(("higher", "lower", "no clear")):
            problems.append(f"a verdict printed for a degenerate result: {row}")
    return problems
