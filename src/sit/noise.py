"""Warnings the libraries raise about their own internals, silenced by their exact message around the calls
that raise them. Every other warning still shows.

* transformers 5's FutureWarning "`is_gradient_checkpointing` is deprecated": PEFT reads the old property when
  it wraps a model in an adapter (training, loading a stage), and TRL reads it around training and generation.
  Nothing in this project calls it, and nothing a user does makes it go away: it tells them nothing.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

LIBRARY_FUTURE_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)


@contextmanager
def library_warnings_silenced():
    """Inside: the warnings above are dropped (the filters are restored on the way out)."""
    with warnings.catch_warnings():
        for message in LIBRARY_FUTURE_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield
