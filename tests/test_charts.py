"""Every chart a notebook draws: the toy-world mark, one stage palette, readable labels, and a notebook
backend that saving the training curves leaves alone."""

import itertools
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from sit.agent.report import plot_metrics
from sit.charts import STAGE_COLORS, STAGE_LABELS, model_label
from sit.evaluation.mtbench_data import CATEGORIES
from sit.evaluation.report import (
    MMLU_CHANCE,
    plot_benchmarks,
    plot_model_radars,
    plot_mt_bench_categories,
    plot_stages,
)
from sit.filtering.plots import plot_length_histograms, plot_removals
from sit.generation.report import plot_lengths
from sit.preference.report import choice_table, plot_choices, plot_margins, plot_score_histograms
from sit.training.artifacts import curve_figure, save_logs

ROOT = Path(__file__).resolve().parents[1]
TOY, HUB = "toy:0123456789abcdef", "hub"
GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"
TARGETS = ["meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"]
STAGES = ["base", "sft", "dpo"]


def records(n=12):
    return [{"instruction": "word " * (3 + k), "response": "answer " * (10 + 2 * k)} for k in range(n)]


def stage_rows():
    return [{"model": m, "stage": s, "mean_reward": 0.5 + k, "ci_low": 0.2 + k, "ci_high": 0.8 + k,
             "stopped_share": 0.3 * k} for m in TARGETS for k, s in enumerate(STAGES)]


def benchmark_rows():
    rows = []
    for m, (k, s) in itertools.product(TARGETS, enumerate(STAGES)):
        for benchmark, metric, value in [("ifeval", "prompt_level_strict_acc", 0.2), ("ifeval", "inst_level_strict_acc", 0.3),
                                         ("mmlu", "acc", 0.3), ("mt_bench", "score", 4.0), ("reward", "mean_reward", -1.0)]:
            rows.append({"model": m, "stage": s, "benchmark": benchmark, "metric": metric, "value": value + 0.1 * k,
                         "stderr": 0.02})
        rows += [{"model": m, "stage": s, "benchmark": "mt_bench", "metric": f"score_{c}", "value": 3.0 + k,
                  "stderr": None} for c in CATEGORIES]
    return rows


def agent_runs():
    summary = {m: {"value": 0.4, "ci_low": 0.2, "ci_high": 0.6}
               for m in ("reward", "success_rate", "avg_turns", "invalid_action_rate")}
    return [SimpleNamespace(model=name, stage=stage, records=[{}] * 5, summary=summary)
            for name, stage in (("rule", "-"), ("random", "-"), (TARGETS[0], "dpo"))]


def pairs():
    return [{"chosen_model": a, "rejected_model": b, "margin": 1.0 + k}
            for k, (a, b) in enumerate(itertools.permutations([GENERATOR, *TARGETS], 2))]


FIGURES = {
    "01 lengths": lambda w: plot_lengths(records(), world_id=w),
    "02 removals": lambda w: plot_removals({"filters": [{"filter": "empty", "removed": 3, "solo": 4},
                                                       {"filter": "length", "removed": 2, "solo": 5}],
                                            "input": 20, "passed_filters": 15, "output": 10}, world_id=w).figure,
    "02 length histograms": lambda w: plot_length_histograms(records(), records(6), world_id=w),
    "03 score histograms": lambda w: plot_score_histograms({m: [{"score": 0.1 * k} for k in range(9)]
                                                            for m in TARGETS}, world_id=w),
    "03 margins": lambda w: plot_margins(pairs(), world_id=w),
    "03 choices": lambda w: plot_choices(choice_table(pairs()), world_id=w),
    "04/05 curve": lambda w: curve_figure([{"step": k, "loss": 1 / k} for k in range(1, 6)], ("loss",), "loss",
                                          world_id=w),
    "05 stages": lambda w: plot_stages(stage_rows(), world_id=w),
    "06 benchmarks": lambda w: plot_benchmarks(benchmark_rows(), judge="Qwen/Qwen2.5-7B-Instruct", world_id=w),
    "06 radars": lambda w: plot_model_radars(benchmark_rows(), world_id=w),
    "06 mt-bench categories": lambda w: plot_mt_bench_categories(benchmark_rows(), TARGETS[0], judge="judge",
                                                                 world_id=w),
    "07 agents": lambda w: plot_metrics(agent_runs(), world_id=w),
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def mark(fig) -> list[str]:
    return [t.get_text() for t in fig.texts if "toy world" in t.get_text()]


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_chart_drawn_in_the_toy_world_says_so_and_a_hub_chart_does_not(name):
    toy = FIGURES[name](TOY)
    assert mark(toy) and TOY in mark(toy)[0], f"{name}: no toy mark"
    assert not mark(FIGURES[name](HUB)), f"{name}: a hub chart carries the toy mark"


def bar_colors(ax) -> dict[str, tuple]:
    return {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers if hasattr(c, "patches")}


def test_notebook_charts_colour_each_stage_from_the_one_palette():
    expected = {STAGE_LABELS[s]: to_rgba(STAGE_COLORS[s]) for s in STAGES}
    for fig in (plot_stages(stage_rows()), plot_benchmarks(benchmark_rows())):
        for ax in fig.axes:
            if ax.get_visible() and ax.containers:
                assert bar_colors(ax) == expected
    radar = plot_mt_bench_categories(benchmark_rows(), TARGETS[0])
    assert {line.get_label(): to_rgba(line.get_color()) for line in radar.axes[0].lines} == expected


def overlaps(labels) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent()) for t in labels if t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def test_model_names_under_bars_do_not_run_into_each_other():
    for fig in (plot_choices(choice_table(pairs())), plot_stages(stage_rows()), plot_benchmarks(benchmark_rows())):
        fig.canvas.draw()
        for ax in fig.axes:
            assert not overlaps(ax.get_xticklabels()), [t.get_text() for t in ax.get_xticklabels()]
    assert model_label(GENERATOR) == "Llama-3.1-8B-\nInstruct" and model_label(TARGETS[0]) == "Llama-3.2-3B"


def outside_circle(ax, box) -> bool:
    """True when ``box`` (display coordinates) stays clear of the polar axes' rim."""
    cx, cy = ax.transAxes.transform((0.5, 0.5))
    nearest_x, nearest_y = min(max(cx, box.x0), box.x1), min(max(cy, box.y0), box.y1)
    return ((nearest_x - cx) ** 2 + (nearest_y - cy) ** 2) ** 0.5 >= ax.bbox.width / 2


def test_radar_names_stay_clear_of_the_rim_the_scale_the_title_the_legend_and_the_next_radar():
    for fig in (plot_model_radars(benchmark_rows()),
                plot_mt_bench_categories(benchmark_rows(), TARGETS[0], judge="Qwen/Qwen2.5-7B-Instruct")):
        fig.canvas.draw()
        names = [(ax, label) for ax in fig.axes for label in ax.get_xticklabels()]
        others = [t for ax in fig.axes for t in (*ax.get_yticklabels(), ax.title)] + fig.legends
        assert not overlaps(label for _, label in names)
        for ax, name in names:
            box = name.get_window_extent()
            assert outside_circle(ax, box), f"{name.get_text()!r} crosses the rim"
            hit = [o for o in others if o.get_window_extent().overlaps(box)]
            assert not hit, f"{name.get_text()!r} runs into {[getattr(o, 'get_text', str)() for o in hit]}"
        for text in [*(label for _, label in names), *(ax.title for ax in fig.axes)]:
            box = text.get_window_extent()
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, text.get_text()


def test_benchmark_panels_form_a_readable_grid_with_named_axes_and_the_mmlu_chance_line():
    fig = plot_benchmarks(benchmark_rows(), judge="Qwen/Qwen2.5-7B-Instruct")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 5
    width, height = fig.get_size_inches()
    assert width / height < 3, f"{width:.1f} x {height:.1f} in: a strip, not a grid"
    assert len({round(ax.get_position().x0, 2) for ax in panels}) <= 3
    assert all(ax.get_ylabel() for ax in panels), [ax.get_title() for ax in panels if not ax.get_ylabel()]
    mmlu = next(ax for ax in panels if "MMLU" in ax.get_title())
    assert any(list(line.get_ydata()) == [MMLU_CHANCE, MMLU_CHANCE] for line in mmlu.lines)
    assert all("MMLU" not in ax.get_title() for ax in panels if ax is not mmlu
               for line in ax.lines if list(line.get_ydata()) == [MMLU_CHANCE, MMLU_CHANCE])


def test_training_curves_name_the_model_and_stage(tmp_path):
    history = [{"step": k, "loss": 1 / k, "rewards/chosen": 0.1 * k, "rewards/rejected": -0.1 * k,
                "rewards/margins": 0.2 * k, "rewards/accuracies": 0.5} for k in range(1, 6)]
    saved = save_logs(tmp_path, "dpo", history, model=TARGETS[0], world_id=TOY)
    assert sorted(saved) == ["accuracy.png", "loss.png", "margins.png", "rewards.png"]
    assert all(path.stat().st_size > 1000 for path in saved.values())
    fig = curve_figure(history, ("loss",), "Llama-3.2-3B · DPO training: loss")
    assert fig.axes[0].get_title() == "Llama-3.2-3B · DPO training: loss"


def test_saving_the_training_curves_leaves_the_notebooks_backend_alone(tmp_path):
    plt.switch_backend("svg")  # stands in for the notebook's inline backend
    try:
        save_logs(tmp_path, "sft", [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}], model=TARGETS[0])
        assert matplotlib.get_backend() == "svg"
    finally:
        plt.switch_backend("agg")
    calls = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py")
             if re.search(r"matplotlib\.use\(|switch_backend\(", p.read_text())]
    assert not calls, f"library code switches matplotlib's backend: {calls}"
