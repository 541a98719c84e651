"""Phase 2: quality filtering (rules, language, near-duplicates) with a per-filter report.

    result = run_filters(records, filter_config(session.section("filtering")), seed=session.seed)
    result.kept, result.rejected, result.report

Filters live in a registry (:mod:`sit.filtering.registry`); the config's ``pipeline`` names the
ones to run, in order. The table and plot helpers load pandas / matplotlib when first used.
"""

from importlib import import_module

from .config import DEFAULT_PIPELINE, default_config, filter_config
from .pipeline import FilterResult, filter_file, filter_workspace, read_records, run_filters
from .registry import FILTERS, Param, register_filter

__all__ = [
    "DEFAULT_PIPELINE",
    "FILTERS",
    "FilterResult",
    "Param",
    "default_config",
    "filter_config",
    "filter_file",
    "filter_workspace",
    "plot_length_histograms",
    "plot_removals",
    "read_records",
    "register_filter",
    "rejected_examples",
    "report_table",
    "run_filters",
]

_LAZY = {"plot_length_histograms": "plots", "plot_removals": "plots", "rejected_examples": "tables",
         "report_table": "tables"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
