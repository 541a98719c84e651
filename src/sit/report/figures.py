"""Charts of the report as PNG bytes (matplotlib; every figure is closed once saved).

Colours and the toy-world mark come from :mod:`sit.charts`, so a stage looks the same here as in the
notebooks, and every chart drawn from the toy world says so on its face.
"""

from __future__ import annotations

import io

from ..charts import STAGE_COLORS, STAGE_LABELS, mark_toy
from .evidence import STAGE_ORDER

DPI = 120
OTHER_COLOR = "#937860"  # a row that is no training stage (a baseline agent)


def png(fig, world: str | None = None) -> bytes:
    import matplotlib.pyplot as plt

    mark_toy(fig, world)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def pipeline_diagram(steps: list[tuple[str, str, bool]], world: str | None) -> bytes:
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
    return png(fig, world)


def filter_removals(report: dict, world: str | None) -> bytes:
    from ..filtering.plots import plot_removals

    return png(plot_removals(report).figure, world)


def choices(pairs: list[dict], world: str | None) -> bytes:
    from ..preference.report import choice_table, plot_choices

    return png(plot_choices(choice_table(pairs)), world)


def training_curves(runs: list[tuple[str, str, list[dict]]], world: str | None) -> bytes:
    """One row per model: SFT loss, DPO loss and DPO reward accuracy by optimizer step.

    ``runs``: (model, stage, Trainer log history)."""
    import matplotlib.pyplot as plt

    panels = (("sft", "loss", "SFT training loss"), ("dpo", "loss", "DPO training loss"),
              ("dpo", "rewards/accuracies", "DPO reward accuracy (chosen > rejected)"))
    models = list(dict.fromkeys(model for model, _, _ in runs))
    fig, axes = plt.subplots(len(models), len(panels), figsize=(11, 2.3 * len(models)), squeeze=False)
    for row, model in enumerate(models):
        for col, (stage, key, title) in enumerate(panels):
            ax = axes[row][col]
            history = next((h for m, s, h in runs if m == model and s == stage), None) or []
            points = [(h.get("step", i), h[key]) for i, h in enumerate(history) if key in h]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", color=STAGE_COLORS[stage])
            else:
                ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="#888888")
            ax.set_title(f"{model.split('/')[-1]} · {title}", fontsize=9)
            ax.set_xlabel("optimizer step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig, world)


def stage_rewards(rows: list[dict], world: str | None) -> bytes:
    """Mean held-out reward per model and stage, with the 95% interval as error bars."""
    return _grouped_bars(rows, "mean_reward", "mean reward-model score\n(held-out answers)",
                         lambda r: (r.get("ci_low"), r.get("ci_high")), world)


def benchmark_chart(rows: list[dict], ylabel: str, world: str | None, chance: float | None = None) -> bytes:
    """One headline metric per model and stage (``rows`` of results.csv, one metric)."""
    from .evidence import ci

    return _grouped_bars(rows, "value", ylabel, lambda r: ci(r)[:2], world, chance)


def _grouped_bars(rows: list[dict], key: str, ylabel: str, interval, world: str | None,
                  chance: float | None = None) -> bytes:
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows}, key=lambda m: m.split("/")[-1].lower())
    stages = sorted({r["stage"] for r in rows}, key=lambda s: STAGE_ORDER.get(s, 9))
    width = 0.8 / max(1, len(stages))
    fig, ax = plt.subplots(figsize=(max(5.5, 2.2 * len(models)), 3.4))
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
            errors[0].append(max(0.0, value - low) if low is not None else 0)
            errors[1].append(max(0.0, high - value) if high is not None else 0)
        ax.bar(xs, values, width=width, label=STAGE_LABELS.get(stage, stage),
               color=STAGE_COLORS.get(stage, OTHER_COLOR), yerr=errors, capsize=3)
    ax.set_xticks(range(len(models)), [m.split("/")[-1] for m in models], fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.axhline(0, color="#444444", linewidth=0.6)
    if chance is not None:
        ax.axhline(chance, color="#333333", linewidth=0.8, linestyle="--", label=f"chance ({chance:g})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png(fig, world)
