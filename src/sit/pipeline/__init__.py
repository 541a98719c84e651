"""``sit run-all``: the notebooks as one resumable pipeline (discovery, skip/stale detection, execution)."""

from .runall import run_all

__all__ = ["run_all"]
