"""Synthetic Instruction Tuner: Magpie data -> filtering -> preference pairs -> SFT/DPO -> evaluation.

Subpackages, one per phase: ``generation`` (Magpie), ``filtering``, ``preference``, ``training``,
``evaluation``, ``agent``; ``toy`` builds the offline toy world. Shared pieces: ``config``
(registry + profiles), ``workspace``, ``store`` (JSONL + atomic writes), ``manifest``,
``runtime`` (Colab, token, seeding), ``session`` (what a notebook's setup cell calls); below the
phases and used by them: ``inference`` (the one generation engine and runner) and ``stages`` (a target
at base / SFT / DPO). Above them: ``planning``, ``report``, ``publish``, ``pipeline`` (run-all).
"""

from .noise import silence_library_logs

__version__ = "0.1.0"
DEFAULT_SEED = 42

silence_library_logs()
