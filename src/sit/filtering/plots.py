"""Charts of a filtering run (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..charts import mark_toy
from .rules import word_count


def plot_removals(report: dict, ax=None, *, world_id: str | None = None):
    """Bar chart per filter (pipeline order): removed in the pipeline vs. would remove on its own; returns the axes."""
    steps = report["filters"]
    names = [step["filter"] for step in steps]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [step["removed"] for step in steps], width=0.4, label="removed in pipeline order")
    ax.bar(x + 0.2, [step["solo"] for step in steps], width=0.4, label="would remove alone")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("records")
    ax.set_title(f"Filtering: {report['input']} in, {report['passed_filters']} passed, {report['output']} kept")
    ax.legend()
    ax.figure.tight_layout()
    mark_toy(ax.figure, world_id)
    return ax


def plot_length_histograms(before: Sequence[dict], after: Sequence[dict], bins: int = 40, *,
                           world_id: str | None = None):
    """Histograms of instruction and response lengths (words) before and after filtering."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, field in zip(axes, ("instruction", "response"), strict=True):
        lengths = {label: [word_count(r[field]) for r in records]
                   for label, records in (("before", before), ("after", after))}
        top = max((max(v) for v in lengths.values() if v), default=1)
        edges = np.linspace(0, top, bins + 1)
        for label, values in lengths.items():
            ax.hist(values, bins=edges, alpha=0.6, label=f"{label} (n={len(values)})")
        ax.set_xlabel(f"{field} length (words)")
        ax.set_ylabel("records")
        ax.legend()
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig
