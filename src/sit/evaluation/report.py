"""Tables and charts of notebook 06: results, deltas vs base, grouped bars with CI whiskers, radars; and of
notebook 05's stage comparison (held-out reward per stage, answers side by side)."""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

from ..charts import STAGE_COLORS, STAGE_LABELS, mark_toy, model_label
from ..workspace import STAGES
from .bootstrap import PROPORTIONS, wilson
from .compare import HEADLINES, Comparison
from .mtbench_data import CATEGORIES
from .mtbench_run import LABEL

if TYPE_CHECKING:
    from ..session import Session

Z95 = 1.96
MMLU_CHANCE = 0.25  # four choices
# What each headline panel's y axis measures, and its fixed range (None: the data's).
AXES = {("ifeval", "prompt_level_strict_acc"): ("share of prompts, all instructions followed", (0, 1)),
        ("ifeval", "inst_level_strict_acc"): ("share of instructions followed", (0, 1)),
        ("mmlu", "acc"): ("accuracy", (0, 1)),
        ("mt_bench", "score"): ("judge's score (1-10)", (0, 10)),
        ("reward", "mean_reward"): ("mean reward-model score", None)}
PANEL_COLUMNS = 3


def results_frame(rows: list[dict], model: str | None = None):
    """The tidy results (one metric per row) as a DataFrame, optionally for one model."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if model is not None:
        frame = frame[frame["model"] == model]
    return frame.reset_index(drop=True)


def headline_frame(comparison: Comparison):
    import pandas as pd

    return pd.DataFrame(comparison.table)


def deltas_frame(comparison: Comparison):
    import pandas as pd

    frame = pd.DataFrame(comparison.deltas)
    if frame.empty:
        return frame
    # base and value are the means over the n paired items: delta is their difference
    frame = frame[["model", "stage", "label", "n", "dropped", "base", "value", "delta", "ci_low", "ci_high", "verdict",
                   "why", "note"]]
    return frame.rename(columns={"n": "n paired", "base": "base (paired)", "value": "stage (paired)"})


def _short(model: str) -> str:
    return model.split("/")[-1]


def _whiskers(row: dict | None) -> tuple[float, float]:
    """Lengths below and above the bar of its 95 % interval: Wilson's for a proportion (inside [0, 1]),
    else ±1.96 stderr."""
    if row is None or row.get("value") is None:
        return 0.0, 0.0
    value, err = float(row["value"]), row.get("stderr")
    if row["metric"] in PROPORTIONS and row.get("n"):
        low, high = wilson(value, int(row["n"]))
        return value - low, high - value
    half = Z95 * float(err) if err not in (None, "") and not math.isnan(float(err)) else 0.0
    return half, half


def plot_benchmarks(rows: list[dict], *, judge: str | None = None, world_id: str | None = None):
    """One panel per headline metric (a grid of up to 3 columns): bars per model, one per stage,
    whiskers = 95 % CI (Wilson's for a share, ±1.96 stderr otherwise); MMLU's panel carries the chance line."""
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = [(b, m, label) for b, m, label in HEADLINES if any((r["benchmark"], r["metric"]) == (b, m) for r in rows)]
    if not metrics:
        return None
    models = list(dict.fromkeys(r["model"] for r in rows))
    columns = min(PANEL_COLUMNS, len(metrics))
    grid_rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(max(4.4, 1.5 * len(models)) * columns, 3.6 * grid_rows),
                             squeeze=False)
    width = 0.8 / len(STAGES)
    for ax, (benchmark, metric, label) in zip(axes.flat, metrics, strict=False):
        for k, stage in enumerate(STAGES):
            values, errors = [], [[], []]
            for model in models:
                row = next((r for r in rows if (r["model"], r["stage"], r["benchmark"], r["metric"])
                            == (model, stage, benchmark, metric)), None)
                values.append(row["value"] if row else np.nan)
                below, above = _whiskers(row)
                errors[0].append(below)
                errors[1].append(above)
            x = np.arange(len(models)) + (k - 1) * width
            ax.bar(x, values, width, yerr=errors, capsize=3, label=STAGE_LABELS[stage], color=STAGE_COLORS[stage])
        ylabel, limits = AXES.get((benchmark, metric), (metric.replace("_", " "), None))
        if limits:
            ax.set_ylim(*limits)
        title = LABEL.format(judge=judge) if benchmark == "mt_bench" and judge else label
        ax.set_title("\n".join(textwrap.wrap(title, 36)), fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_xticks(np.arange(len(models)), [model_label(m) for m in models], fontsize=8)
        if benchmark == "mmlu":
            chance = ax.axhline(MMLU_CHANCE, color="black", linestyle="--", linewidth=1, label="chance (0.25)")
            ax.legend(handles=[chance], fontsize=7, loc="upper right")
    # One legend for the stages: in the grid's spare cell when there is one, else in the first panel.
    spare = list(axes.flat)[len(metrics):]
    for ax in spare:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    (spare[0] if spare else axes.flat[0]).legend(handles[:len(STAGES)], names[:len(STAGES)], title="stage",
                                                 fontsize=8, loc="center" if spare else "best")
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def _normalised(rows, model, stage):
    """Headline metrics on 0-1 (MT-Bench / 10); reward is left out (no fixed scale)."""
    out = {}
    for benchmark, metric, label in HEADLINES:
        if benchmark == "reward":
            continue
        row = next((r for r in rows if (r["model"], r["stage"], r["benchmark"], r["metric"])
                    == (model, stage, benchmark, metric)), None)
        if row is not None and not math.isnan(row["value"]):
            out[label] = row["value"] / 10.0 if benchmark == "mt_bench" else row["value"]
    return out


def _radar(ax, labels, series: dict[str, list[float]], title: str, limit: float):
    import numpy as np

    angles = np.linspace(0, 2 * np.pi, len(labels), endpoint=False).tolist()
    for name, values in series.items():
        color = STAGE_COLORS.get(name)
        ax.plot(angles + angles[:1], values + values[:1], label=STAGE_LABELS.get(name, name), color=color)
        ax.fill(angles + angles[:1], values + values[:1], alpha=0.1, color=color)
    # Short lines, pushed out past the rim: long axis names run into each other and into the plot.
    names = ["\n".join(textwrap.wrap(label.replace(" (headline)", ""), 14, break_on_hyphens=False)) for label in labels]
    ax.set_xticks(angles, names, fontsize=7)
    ax.tick_params(axis="x", pad=12)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylim(0, limit)
    ax.set_title(title, fontsize=9, pad=18)


def plot_model_radars(rows: list[dict], *, world_id: str | None = None):
    """A radar per model: its stages over the headline benchmarks (MT-Bench scaled to 0-1)."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    panels = []
    for model in models:
        stages = {s: _normalised(rows, model, s) for s in STAGES}
        labels = sorted(set.intersection(*[set(v) for v in stages.values() if v]) if any(stages.values()) else set())
        if len(labels) >= 3:
            panels.append((model, labels, {s: [v[label] for label in labels] for s, v in stages.items() if v}))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.8), subplot_kw={"polar": True},
                             squeeze=False)
    for ax, (model, labels, series) in zip(axes[0], panels, strict=True):
        _radar(ax, labels, series, _short(model), 1.0)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(names), bbox_to_anchor=(0.5, 0.03))
    fig.tight_layout(rect=(0, 0.13, 1, 0.93))
    mark_toy(fig, world_id)
    return fig


def plot_mt_bench_categories(rows: list[dict], model: str, judge: str | None = None, *, world_id: str | None = None):
    """MT-Bench per category (radar, 0-10), one line per stage of ``model``."""
    import matplotlib.pyplot as plt

    series = {}
    for stage in STAGES:
        found = {r["metric"][len("score_"):]: r["value"] for r in rows if r["model"] == model and r["stage"] == stage
                 and r["benchmark"] == "mt_bench" and r["metric"][len("score_"):] in CATEGORIES}
        if found:
            series[stage] = [found.get(c, math.nan) if not math.isnan(found.get(c, math.nan)) else 0.0
                             for c in CATEGORIES]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 5.4), subplot_kw={"polar": True})
    _radar(ax, list(CATEGORIES), series, "\n".join(textwrap.wrap(
        f"{_short(model)}: " + LABEL.format(judge=judge or "?"), 48)), 10.0)
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(names), bbox_to_anchor=(0.5, 0.03))
    fig.tight_layout(rect=(0, 0.13, 1, 0.93))
    mark_toy(fig, world_id)
    return fig


def judgments_frame(session: Session, model: str, stage: str, n: int = 6):
    """A few MT-Bench answers with the judge's words and rating."""
    import pandas as pd

    from ..store import read_jsonl
    from .mtbench import stage_dir

    spec = session.registry.get(model)
    folder = stage_dir(session, spec.slug, stage)
    if not (folder / "judgments.jsonl").exists():
        return pd.DataFrame()
    answers = {r["id"]: r for r in read_jsonl(folder / "answers.jsonl")}
    rows = [{"question": answers[j["id"]]["question"][:80], "category": j["category"], "turn": j["turn"],
             "answer": answers[j["id"]]["answer"][:160], "judgment": j["judgment"], "rating": j["rating"],
             "attempts": j["attempts"]} for j in read_jsonl(folder / "judgments.jsonl")[:n]]
    return pd.DataFrame(rows)


def stage_table(rows: list[dict]):
    """Mean reward [95 % CI], stopping share and the paired change from the stage before, per model and stage."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=["model", "stage", "mean reward", "95% CI", "stopped", "n", "change (paired)"])
    table = pd.DataFrame([{
        "model": r["model"], "stage": r["stage"], "mean reward": round(float(r["mean_reward"]), 3),
        "95% CI": f"[{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}]",
        "stopped": f"{float(r['stopped_share']):.0%}", "n": int(r["n"]), "change (paired)": _change(r)} for r in rows])
    return table


def _change(row: dict) -> str:
    """The paired difference from the stage before with the two means it is the difference of, e.g.
    ``base 1.204 → 6.035: +4.831 [+3.433, +6.155] (16 paired)``; the same numbers as the report prints."""
    if row.get("delta") in (None, ""):
        return ""
    interval = f"[{float(row['delta_low']):+.3f}, {float(row['delta_high']):+.3f}]"
    if row.get("vs_mean") in (None, ""):  # written before the paired means were recorded
        return f"{float(row['delta']):+.3f} {interval} vs {row['vs']}"
    before, after = round(float(row["vs_mean"]), 3), round(float(row["stage_mean"]), 3)
    dropped = f", {int(float(row['dropped']))} dropped" if float(row.get("dropped") or 0) else ""
    return (f"{row['vs']} {before:.3f} → {after:.3f}: {after - before:+.3f} {interval} "
            f"({int(float(row['paired_n']))} paired{dropped})")


def plot_stages(rows: list[dict], *, world_id: str | None = None):
    """Grouped bars: mean reward per model and stage with CI whiskers, and the share of answers that stopped."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(stages))
    for k, stage in enumerate(stages):
        xs, means, errs, stopped = [], [], [[], []], []
        for i, model in enumerate(models):
            found = [r for r in rows if r["model"] == model and r["stage"] == stage]
            if not found:
                continue
            r = found[0]
            mean = float(r["mean_reward"])
            xs.append(i + k * width)
            means.append(mean)
            errs[0].append(mean - float(r["ci_low"]))
            errs[1].append(float(r["ci_high"]) - mean)
            stopped.append(float(r["stopped_share"]))
        style = {"label": STAGE_LABELS.get(stage, stage), "color": STAGE_COLORS.get(stage)}
        left.bar(xs, means, width, yerr=errs, capsize=3, **style)
        right.bar(xs, stopped, width, **style)
    for ax, title in ((left, "held-out reward (mean, 95% CI)"), (right, "answers that ended with end-of-turn")):
        ax.set_xticks([i + width * (len(stages) - 1) / 2 for i in range(len(models))])
        ax.set_xticklabels([model_label(m) for m in models])
        ax.set_title(title)
        ax.legend(fontsize=8)
    left.set_ylabel("reward-model score")
    right.set_ylabel("share of answers")
    right.set_ylim(0, 1.05)
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def side_by_side(session: Session, n: int = 3, width: int = 260):
    """A few held-out instructions with the base, SFT and DPO answers of every target."""
    import pandas as pd

    from .stage_rewards import stage_answer_records

    rows = {}
    for spec in session.registry.by_role("target"):
        for stage in STAGES:
            for record in stage_answer_records(session, spec.slug, stage):
                key = record["instruction"]
                rows.setdefault(key, {"instruction": _clip(key, 120)})
                rows[key][f"{spec.slug} {stage}"] = _clip(record["response"], width)
    table = pd.DataFrame(list(rows.values())[:n])
    return table.T if len(table) else table


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
