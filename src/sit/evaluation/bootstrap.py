"""Paired bootstrap over items: how sure a difference between two stages is.

Both stages were scored on the same items. Each resample draws item indices with replacement, once,
and computes the metric of both stages on those same items; the spread of the differences gives the
confidence interval. A metric is the mean of per-item scores, or, for a metric that is a list per
item (IFEval's instruction-level accuracy), the ratio of the summed scores to the number of entries.

Every comparison of the project goes through :func:`stage_change`: one routine, one number of resamples
and one seed per comparison (model, stage, the stage it is compared with, benchmark, metric), so
``stages.csv``, ``comparison.csv``, the notebooks and the report print the same interval for it. A
change is reported with the two means it is the difference of, over the same paired items, and how
many items had to be left out because only one stage had a usable score for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..runtime import derive_seed

VERDICTS = ("improved", "no significant change", "worse")


SAMPLES = 2000  # resamples of every paired comparison (the profile's evaluation.bootstrap_samples)
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Delta:
    delta: float
    low: float
    high: float
    n: int
    confidence: float
    base_mean: float = float("nan")  # the metric of ``base`` over the n paired items
    other_mean: float = float("nan")  # the metric of ``other`` over the same n items
    dropped: int = 0  # items scored in one of the two only (or unusable in one): left out of the pairing

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "improved"
        if self.high < 0:
            return "worse"
        return "no significant change"


def _parts(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) per item: ``(x, 1)`` for a score, ``(sum, len)`` for a list of scores."""
    num = np.array([float(np.sum(v)) if isinstance(v, list | tuple) else float(v) for v in values])
    den = np.array([float(len(v)) if isinstance(v, list | tuple) else 1.0 for v in values])
    return num, den


def aggregate(values: list) -> float:
    """The metric over all items."""
    num, den = _parts(values)
    return float(num.sum() / den.sum()) if den.sum() else float("nan")


def stderr(values: list, *, samples: int = 1000, seed: int = 0) -> float:
    """Standard error: ``std/sqrt(n)`` for per-item scores; bootstrap for a ratio over lists."""
    if len(values) < 2:
        return float("nan")
    num, den = _parts(values)
    if np.all(den == 1.0):
        return float(np.std(num, ddof=1) / np.sqrt(len(num)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(samples, len(num)))
    stats = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return float(np.std(stats, ddof=1))


def paired_bootstrap(base: dict, other: dict, *, samples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> Delta:
    """``metric(other) - metric(base)`` over the items both have (``{item_id: score}``), with a CI."""
    ids = sorted(set(base) & set(other))
    dropped = len(set(base) ^ set(other))
    if not ids:
        raise ValueError("the two stages share no item; a paired comparison needs the same items")
    b_num, b_den = _parts([base[i] for i in ids])
    o_num, o_den = _parts([other[i] for i in ids])
    base_mean, other_mean = b_num.sum() / b_den.sum(), o_num.sum() / o_den.sum()
    point = other_mean - base_mean
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(samples, len(ids)))
    diffs = o_num[idx].sum(axis=1) / o_den[idx].sum(axis=1) - b_num[idx].sum(axis=1) / b_den[idx].sum(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Delta(float(point), float(low), float(high), len(ids), confidence, float(base_mean), float(other_mean),
                 dropped)


def bootstrap_seed(seed: int, *parts) -> int:
    """The same resamples for the same comparison, whatever else ran before."""
    return derive_seed(seed, "paired-bootstrap", *parts) % (2**32)


def stage_change(seed: int, base: dict, other: dict, *, model: str, stage: str, vs: str, benchmark: str,
                 metric: str, samples: int = SAMPLES, confidence: float = CONFIDENCE) -> Delta:
    """``stage`` minus ``vs`` for ``model`` on ``benchmark``/``metric``: the one paired comparison every
    deliverable prints (same resamples and seed wherever it is computed)."""
    return paired_bootstrap(base, other, samples=samples, confidence=confidence,
                            seed=bootstrap_seed(seed, model, stage, vs, benchmark, metric))


def dropped_note(delta: Delta, unit: str = "items") -> str:
    """``3 items left out (scored at one stage only)``, or empty when the pairing kept every item."""
    if not delta.dropped:
        return ""
    one = unit.removesuffix("s") if delta.dropped == 1 else unit
    return (f"{delta.dropped} {one} left out (scored at one stage only, e.g. a judgment that could not be "
            f"parsed); the means are over the {delta.n} paired {unit}")


# metrics that are a share of items (or of episodes, turns): their intervals are Wilson's, inside [0, 1]
PROPORTIONS = {"acc", "acc_norm", "prompt_level_strict_acc", "prompt_level_loose_acc", "inst_level_strict_acc",
               "inst_level_loose_acc", "success_rate", "invalid_action_rate", "stopped_share"}
Z95 = 1.959963984540054


def wilson(share: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion: never below 0 or above 1, and not [0, 0] at 0 of n."""
    if n <= 0:
        return float("nan"), float("nan")
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if share <= 0 else low), (1.0 if share >= 1 else high)  # exact ends, not 1e-17 off
