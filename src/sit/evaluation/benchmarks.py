"""The registry of evaluation benchmarks.

A benchmark is one :class:`Benchmark` entry: how it runs (``lm_eval`` through lm-evaluation-harness,
or ``mt_bench`` with a local judge), the lm-eval task names on the hub and the project's offline task,
its metrics (the first is the headline), the reference goal of the spec, and its knobs with the values
that fit a Colab T4. A profile's ``evaluation.<name>`` section overrides knobs. Adding a benchmark is
one :func:`register_benchmark` call; ``sit eval --benchmarks NAME`` then runs it. The built-in
benchmarks' knobs are set once, in the ``colab_t4`` profile (``demo`` extends it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, load_profiles, resolve_settings

RUNNERS = ("lm_eval", "mt_bench")


@dataclass(frozen=True)
class Benchmark:
    name: str
    runner: str
    metrics: tuple[str, ...]  # metric names in the results table; the first one is the headline
    label: str
    hub_tasks: tuple[str, ...] = ()  # lm-eval task or group names (world: hub)
    local_task: str | None = None  # YAML under sit/evaluation/tasks/ (world: toy, and tests)
    subtask_prefix: str | None = None  # hub task of one subject: prefix + subject
    chat_template: bool = True  # sft/dpo stages are prompted through their chat template
    goal: float | None = None  # the spec's reference goal for the headline metric (real models)
    goal_note: str = ""
    knobs: dict[str, Any] = field(default_factory=dict)  # T4 defaults; the profile overrides them

    @property
    def headline(self) -> str:
        return self.metrics[0]


BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in BENCHMARKS:
        raise ValueError(f"a benchmark named '{benchmark.name}' is already registered")
    if benchmark.runner not in RUNNERS:
        raise ValueError(f"benchmark '{benchmark.name}': unknown runner '{benchmark.runner}' (known: {RUNNERS})")
    if not benchmark.metrics:
        raise ValueError(f"benchmark '{benchmark.name}' names no metric")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]


def parse_benchmarks(value) -> list[Benchmark]:
    """``"ifeval,mmlu"`` or a list of names -> registry entries (unknown names are an error)."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"no benchmark named (known: {', '.join(BENCHMARKS)})")
    return [get_benchmark(n) for n in dict.fromkeys(names)]


def knobs(benchmark: Benchmark, section: dict) -> dict:
    """The benchmark's knobs: registry defaults, then the profile's ``evaluation.<name>`` values."""
    return resolve_settings(f"evaluation.{benchmark.name}", benchmark.knobs, section.get(benchmark.name),
                            known=benchmark.knobs)


def t4_knobs(name: str) -> dict:
    """A built-in benchmark's knobs and their T4 values: the ``colab_t4`` profile's ``evaluation.<name>``."""
    return dict(load_profiles()["colab_t4"]["evaluation"][name])


IFEVAL = register_benchmark(Benchmark(
    name="ifeval", runner="lm_eval", label="IFEval",
    metrics=("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"),
    hub_tasks=("ifeval",), local_task="ifeval_local.yaml", goal=0.40,
    goal_note="IFEval 40 %+ (prompt-level strict)",
    knobs=t4_knobs("ifeval"),
))
MMLU = register_benchmark(Benchmark(
    name="mmlu", runner="lm_eval", label="MMLU", metrics=("acc",),
    hub_tasks=("mmlu",), local_task="mmlu_local.yaml", subtask_prefix="mmlu_", chat_template=False,
    goal=None, goal_note="MMLU maintained (no drop below base)",
    knobs=t4_knobs("mmlu"),
))
MT_BENCH = register_benchmark(Benchmark(
    name="mt_bench", runner="mt_bench", label="MT-Bench (local judge)",
    metrics=("score", "score_turn1", "score_turn2"), goal=5.0,
    goal_note="MT-Bench 5.0+ (GPT-4 judge in the spec; a local judge is not comparable)",
    knobs=t4_knobs("mt_bench"),
))
