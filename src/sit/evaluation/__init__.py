"""Phase 6: evaluation of each target at each stage (base, SFT, DPO).

``evaluate(session, model_name)`` runs IFEval and MMLU through lm-evaluation-harness and MT-Bench with
a local judge, and writes ``evaluation/results.csv`` plus per-item scores; ``compare(session)`` builds
the comparison of the whole workspace (deltas vs base with paired-bootstrap CIs, ``summary.md``).
"""

from .benchmarks import BENCHMARKS, Benchmark, register_benchmark
from .compare import Comparison, compare
from .run import EvalResult, evaluate, evaluation_settings

__all__ = ["BENCHMARKS", "Benchmark", "Comparison", "EvalResult", "compare", "evaluate", "evaluation_settings",
           "register_benchmark"]
