"""Charts of the report as PNG bytes (matplotlib; every figure is closed once saved)."""

from __future__ import annotations

import io

from .evidence import STAGE_ORDER, ci

STAGE_COLORS = {"base": "#8C8C8C", "sft": "#4C72B0", "dpo": "#55A868"}
DPI = 120


def png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def pipeline_diagram(steps: list[tuple[str, str, bool]]) -> bytes:
    """Boxes for the steps (number, name, done?) joined by arrows; steps not run yet are greyed out."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(12, 2.4))
    ax.set_xlim(0, len(steps))
    ax.set_ylim(0, 1)
    ax.axis("off")
    for i, (number, name, done) in enumerate(steps):
        face = "#DCEAF7" if done else "#F2F2F2"
        edge = "#4C72B0" if done else "#B0B0B0"
        ax.add_patch(FancyBboxPatch((i + 0.06, 0.22), 0.8, 0.56, boxstyle="round,pad=0.02", facecolor=face,
                                    edgecolor=edge, linewidth=1.5))
        ax.text(i + 0.46, 0.62, number, ha="center", va="center", fontsize=13, weight="bold",
                color="#1F3B5C" if done else "#8C8C8C")
        ax.text(i + 0.46, 0.40, name, ha="center", va="center", fontsize=9, wrap=True,
                color="#1F3B5C" if done else "#8C8C8C")
        ax.text(i + 0.46, 0.10, "done" if done else "not run yet", ha="center", va="center", fontsize=8,
                color="#2E7D32" if done else "#9E9E9E")
        if i < len(steps) - 1:
            ax.annotate("", xy=(i + 1.06, 0.5), xytext=(i + 0.88, 0.5),
                        arrowprops={"arrowstyle": "->", "color": "#4C72B0", "lw": 1.5})
    return png(fig)


def filter_removals(report: dict) -> bytes:
    from ..filtering.plots import plot_removals

    return png(plot_removals(report).figure)


def margins(pairs: list[dict]) -> bytes:
    from ..preference.report import plot_margins

    return png(plot_margins(pairs))


def choices(pairs: list[dict]) -> bytes:
    from ..preference.report import choice_table, plot_choices

    return png(plot_choices(choice_table(pairs)))


def loss_curve(history: list[dict], title: str) -> bytes:
    """Training loss by step (and DPO's reward margin/accuracy when logged), from a Trainer log history."""
    import matplotlib.pyplot as plt

    keys = [k for k in ("loss", "rewards/margins", "rewards/accuracies") if any(k in h for h in history)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.2 * max(1, len(keys)), 3), squeeze=False)
    for ax, key in zip(axes[0], keys or ["loss"], strict=True):
        points = [(h.get("step", i), h[key]) for i, h in enumerate(history) if key in h]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", color="#4C72B0")
        ax.set_xlabel("step")
        ax.set_ylabel(key)
    axes[0][0].set_title(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def stage_rewards(rows: list[dict]) -> bytes:
    """Mean held-out reward per model and stage, with the 95% interval as error bars."""
    return _grouped_bars(rows, "mean_reward", "mean reward (held-out answers)",
                         lambda r: (r.get("ci_low"), r.get("ci_high")))


def benchmark_chart(rows: list[dict], benchmark: str, metric: str) -> bytes:
    return _grouped_bars(rows, "value", f"{benchmark} · {metric}", lambda r: ci(r)[:2])


def _grouped_bars(rows: list[dict], key: str, ylabel: str, interval) -> bytes:
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    stages = sorted({r["stage"] for r in rows}, key=lambda s: STAGE_ORDER.get(s, 9))
    width = 0.8 / max(1, len(stages))
    fig, ax = plt.subplots(figsize=(max(5.0, 2.2 * len(models)), 3.4))
    for j, stage in enumerate(stages):
        xs, values, errors = [], [], [[], []]
        for i, model in enumerate(models):
            row = next((r for r in rows if r["model"] == model and r["stage"] == stage), None)
            if row is None or row.get(key) is None:
                continue
            low, high = interval(row)
            value = row[key]
            xs.append(i + (j - (len(stages) - 1) / 2) * width)
            values.append(value)
            errors[0].append(value - low if low is not None else 0)
            errors[1].append(high - value if high is not None else 0)
        ax.bar(xs, values, width=width, label=stage, color=STAGE_COLORS.get(stage, "#C44E52"),
               yerr=errors, capsize=3)
    ax.set_xticks(range(len(models)), [m.split("/")[-1] for m in models])
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="#444444", linewidth=0.6)
    ax.legend(title="stage", fontsize=8)
    fig.tight_layout()
    return png(fig)
