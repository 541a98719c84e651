"""Paired bootstrap over items: how sure a difference between two stages is.

Both stages were scored on the same items. Each resample draws item indices with replacement, once,
and computes the metric of both stages on those same items; the spread of the differences gives the
confidence interval. A metric is the mean of per-item scores, or, for a metric that is a list per
item (IFEval's instruction-level accuracy), the ratio of the summed scores to the number of entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime import derive_seed

VERDICTS = ("improved", "no significant change", "worse")


@dataclass(frozen=True)
class Delta:
    delta: float
    low: float
    high: float
    n: int
    confidence: float

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
    if not ids:
        raise ValueError("the two stages share no item; a paired comparison needs the same items")
    b_num, b_den = _parts([base[i] for i in ids])
    o_num, o_den = _parts([other[i] for i in ids])
    point = o_num.sum() / o_den.sum() - b_num.sum() / b_den.sum()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(samples, len(ids)))
    diffs = o_num[idx].sum(axis=1) / o_den[idx].sum(axis=1) - b_num[idx].sum(axis=1) / b_den[idx].sum(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Delta(float(point), float(low), float(high), len(ids), confidence)


def bootstrap_seed(seed: int, *parts) -> int:
    """The same resamples for the same comparison, whatever else ran before."""
    return derive_seed(seed, "paired-bootstrap", *parts) % (2**32)
