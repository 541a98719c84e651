"""Did a stage help? One rule everywhere: the paired change and its 95% CI.

Both sources were computed on the same items at both stages, by a paired bootstrap: the training
phase's ``evaluation/stages.csv`` (each stage against the stage before, on the held-out answers) and
the evaluation phase's ``evaluation/comparison.csv`` (SFT and SFT+DPO against base, per headline
metric). A change whose interval lies above 0 is "higher", below 0 "lower", else "no clear change";
the report never judges by comparing two separate intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..evaluation.bootstrap import Delta
from .document import fmt

STAGE_NAMES = {"base": "base", "sft": "SFT", "dpo": "SFT+DPO"}
WORDS = {"improved": "higher", "worse": "lower", "no significant change": "no clear change"}
HELD_OUT = "held-out reward"
NOT_TESTED = "not tested"
DEGENERATE = "no verdict (degenerate)"


@dataclass(frozen=True)
class Change:
    """``stage`` minus ``vs`` on ``measure`` for ``model``, with its paired 95% CI (None: not tested)."""

    model: str
    stage: str
    vs: str
    measure: str  # what is measured, as a reader reads it ("IFEval prompt-strict (headline)")
    benchmark: str
    metric: str
    delta: float | None
    low: float | None
    high: float | None
    n: int | None  # paired items
    why: str = ""  # why there is no interval
    base_mean: float | None = None  # ``vs`` over the n paired items
    stage_mean: float | None = None  # ``stage`` over the same items: delta = stage_mean - base_mean
    dropped: int = 0  # items scored at one stage only, left out of the pairing
    degenerate: str = ""  # what makes one side of the comparison measure nothing (then there is no verdict)

    @property
    def tested(self) -> bool:
        return None not in (self.delta, self.low, self.high)

    @property
    def verdict(self) -> str:
        """``higher``, ``lower`` or ``no clear change``, decided by the paired interval alone."""
        if self.degenerate:
            return DEGENERATE
        if not self.tested:
            return NOT_TESTED
        return WORDS[Delta(self.delta, self.low, self.high, self.n or 0, 0.95).verdict]

    @property
    def has_means(self) -> bool:
        return self.base_mean is not None and self.stage_mean is not None

    def printed_delta(self) -> str:
        """The change as printed: the difference of the two paired means as printed (3 decimals)."""
        if self.has_means:
            return f"{round(self.stage_mean, 3) - round(self.base_mean, 3):+.3f}"
        return f"{self.delta:+.3f}" if self.delta is not None else "–"

    def means(self) -> str:
        """``6.714 → 6.867`` (vs, then stage, over the paired items)."""
        return f"{fmt(self.base_mean)} → {fmt(self.stage_mean)}" if self.has_means else ""

    def interval(self) -> str:
        return f"{self.printed_delta()} [{self.low:+.3f}, {self.high:+.3f}]" if self.tested else "–"

    def pairing(self) -> str:
        """``n=156 paired`` plus how many dropped out."""
        if not self.n:
            return ""
        return f"n={fmt(self.n)} paired" + (f", {fmt(self.dropped)} dropped" if self.dropped else "")

    def sentence(self, with_model: bool = True) -> str:
        who = f"{short(self.model)} " if with_model else ""
        head = f"{who}{STAGE_NAMES.get(self.stage, self.stage)} vs {STAGE_NAMES.get(self.vs, self.vs)}, {self.measure}"
        if not self.tested:
            change = f"{self.delta:+.3f}, " if self.delta is not None else ""
            return f"{head}: {change}{NOT_TESTED} ({self.why or 'no paired items'})"
        means = f"{self.means()}, " if self.has_means else ""
        items = f", {self.pairing()}" if self.n else ""
        why = f": {self.degenerate}" if self.degenerate else ""
        return f"{head}: **{self.verdict}**{why} ({means}{self.interval()}, paired 95% CI{items})"


def short(model: str) -> str:
    return model.split("/")[-1]


def stage_changes(rows: list[dict]) -> list[Change]:
    """Held-out reward: each stage against the stage before (``vs``/``delta*`` columns of stages.csv)."""
    out = []
    for r in rows:
        if not r.get("vs") or r.get("delta") is None:
            continue
        paired = r.get("paired_n") is not None
        out.append(Change(r["model"], r["stage"], r["vs"], HELD_OUT, "reward", "mean_reward", r["delta"],
                          r.get("delta_low"), r.get("delta_high"), r.get("paired_n") if paired else r.get("n"),
                          base_mean=r.get("vs_mean"), stage_mean=r.get("stage_mean"), dropped=r.get("dropped") or 0))
    return out


def comparison_changes(rows: list[dict]) -> list[Change]:
    """Every stage against base, per headline metric (comparison.csv; held-out reward included)."""
    out = []
    for r in rows:
        measure = HELD_OUT if r["benchmark"] == "reward" else r["label"]
        # tested, and written with the dropped column: base and value are the means over the paired items
        paired = "dropped" in r and r.get("n") and r.get("ci_low") is not None
        out.append(Change(r["model"], r["stage"], "base", measure, r["benchmark"], r["metric"], r.get("delta"),
                          r.get("ci_low"), r.get("ci_high"), r.get("n"), r.get("why") or "",
                          base_mean=r.get("base") if paired else None, stage_mean=r.get("value") if paired else None,
                          dropped=r.get("dropped") or 0))
    return out


def all_changes(ev) -> list[Change]:
    """Every paired change the workspace holds, each comparison once: comparison.csv (every stage vs base),
    then what only stages.csv has (SFT+DPO vs SFT; SFT vs base when comparison.csv is missing)."""
    from dataclasses import replace

    from .degenerate import find_degenerate

    changes = comparison_changes(ev.comparison or [])
    seen = {(c.model, c.stage, c.vs, c.benchmark, c.metric) for c in changes}
    changes += [c for c in stage_changes(ev.stages or [])
                if (c.model, c.stage, c.vs, c.benchmark, c.metric) not in seen]
    found = find_degenerate(ev)
    out = []
    for c in changes:
        said = [f"{STAGE_NAMES.get(s, s)} {d.what}" if d.stage != "*" else d.what
                for s in (c.vs, c.stage) for d in found if d.concerns(c.model, s, c.benchmark)]
        out.append(replace(c, degenerate="; ".join(dict.fromkeys(said))) if said else c)
    return out


def find(changes: list[Change], model: str, stage: str, vs: str, benchmark: str, metric: str) -> Change | None:
    return next((c for c in changes if (c.model, c.stage, c.vs, c.benchmark, c.metric)
                 == (model, stage, vs, benchmark, metric)), None)
