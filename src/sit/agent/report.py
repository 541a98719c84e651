"""Tables, a chart and readable trajectories for notebook 07."""

from __future__ import annotations

from ..charts import mark_toy
from .metrics import METRICS

NAMES = {"reward": "mean reward", "success_rate": "success rate", "avg_turns": "avg turns",
         "invalid_action_rate": "invalid-action rate"}


def metrics_table(runs):
    """One row per agent: every metric with its 95 % bootstrap interval."""
    import pandas as pd

    rows = []
    for run in runs:
        row = {"agent": _label(run), "episodes": len(run.records)}
        for metric in METRICS:
            stats = run.summary[metric]
            row[NAMES[metric]] = stats["value"]
            row[f"{NAMES[metric]} 95% CI"] = f"[{stats['ci_low']:.2f}, {stats['ci_high']:.2f}]"
        rows.append(row)
    return pd.DataFrame(rows)


def plot_metrics(runs, *, world_id: str | None = None):
    """Mean reward and success rate per agent with their confidence intervals; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    labels = [_label(r) for r in runs]
    for ax, metric, color in zip(axes, ("reward", "success_rate"), ("#4C72B0", "#55A868"), strict=True):
        values = [r.summary[metric]["value"] for r in runs]
        low = [v - r.summary[metric]["ci_low"] for v, r in zip(values, runs, strict=True)]
        high = [r.summary[metric]["ci_high"] - v for v, r in zip(values, runs, strict=True)]
        ax.barh(labels, values, xerr=[low, high], color=color, capsize=3)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(NAMES[metric] + " (95% CI)")
    fig.suptitle("WebShop-style (AgentBench protocol), bundled catalog — not comparable with published scores",
                 fontsize=9)
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def trajectory_text(record: dict, width: int = 160) -> str:
    """One episode as text: goal, each round's observation (clipped), reply and action, the end."""
    lines = [f"goal {record['id']}: {record['goal']['instruction']}"]
    for k, turn in enumerate(record["turns"], start=1):
        lines.append(f"  [{k}] observation: {_clip(turn['observation'], width)}")
        lines.append(f"      reply: {_clip(turn['reply'], width)}")
        mark = "" if turn["valid"] else "   <- invalid"
        lines.append(f"      action: {turn['action']}{mark}")
    bought = record.get("purchased") or {}
    lines.append(f"  end: {record['end']}, reward {record['reward']:.2f}"
                 + (f", bought {bought['product_id']} {bought['options']}" if bought else ""))
    return "\n".join(lines)


def _label(run) -> str:
    return run.model if run.stage == "-" else f"{run.model.split('/')[-1]} ({run.stage})"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
