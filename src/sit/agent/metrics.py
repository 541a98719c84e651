"""Episode metrics with percentile-bootstrap 95 % confidence intervals (seeded)."""

from __future__ import annotations

import numpy as np

METRICS = ("reward", "success_rate", "avg_turns", "invalid_action_rate")


def per_episode(records: list[dict]) -> dict[str, np.ndarray]:
    return {"reward": np.array([r["reward"] for r in records], dtype=float),
            "success_rate": np.array([float(r["success"]) for r in records]),
            "avg_turns": np.array([r["rounds"] for r in records], dtype=float),
            "invalid": np.array([r["invalid_actions"] for r in records], dtype=float)}


def summarize(records: list[dict], *, seed: int, resamples: int = 1000) -> dict[str, dict]:
    """metric -> {value, stderr, ci_low, ci_high, n}. The invalid-action rate is invalid actions over all
    actions, resampled by episode (a ratio of sums, so long episodes weigh more)."""
    if not records:
        return {}
    data = per_episode(records)
    n = len(records)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(resamples, n))
    out = {}
    for name in METRICS:
        if name == "invalid_action_rate":
            value = data["invalid"].sum() / max(1.0, data["avg_turns"].sum())
            boots = data["invalid"][index].sum(axis=1) / np.maximum(1.0, data["avg_turns"][index].sum(axis=1))
        else:
            value = data[name].mean()
            boots = data[name][index].mean(axis=1)
        low, high = np.percentile(boots, [2.5, 97.5])
        out[name] = {"value": float(value), "stderr": float(boots.std(ddof=1)) if n > 1 else 0.0,
                     "ci_low": float(low), "ci_high": float(high), "n": n}
    return out
