"""Progress bars: drawn where they draw as bars, left out where every update would print a line of text.

A bar redraws itself in place in a terminal and in a notebook that shows widgets (Colab). Under papermill,
nbval, CI or into a log file it cannot: each update becomes a line, and an executed notebook fills with
hundreds of them. Every stage of every phase asks :func:`draws_bars` before it draws one, so the rule lives
here only. Messages a stage prints (what it resumed, what it wrote) do not depend on it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import contextmanager


def progress_default() -> bool:
    """Whether progress bars draw as bars here: in a terminal, or in a notebook whose front end shows
    widgets (Colab, Jupyter with ipywidgets). Not under CI, papermill without widgets, or a log file."""
    if os.environ.get("CI") or os.environ.get("TQDM_DISABLE"):
        return False
    if "ipykernel" in sys.modules:
        return "google.colab" in sys.modules or importlib.util.find_spec("ipywidgets") is not None
    return sys.stderr.isatty()


def draws_bars(progress: bool | None = None) -> bool:
    """Whether a stage draws its bars: progress was not turned off (``None``: not asked) and bars draw here."""
    return progress is not False and progress_default()


@contextmanager
def library_bars(progress: bool | None = None):
    """The bars libraries draw on their own (transformers' "Loading weights" and GGUF "de-quantizing", the Hub's
    downloads, datasets' "Map" and "Tokenizing") switched off inside, unless :func:`draws_bars` says bars draw."""
    import functools

    import datasets
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging

    restore = []
    if not draws_bars(progress):
        if logging.is_progress_bar_enabled():
            logging.disable_progress_bar()
            restore.append(logging.enable_progress_bar)
        if not datasets.are_progress_bars_disabled():
            datasets.disable_progress_bars()
            restore.append(datasets.enable_progress_bars)
        # The GGUF reader draws a plain tqdm bar that transformers' switch above does not reach.
        bar = gguf_loading.tqdm
        gguf_loading.tqdm = functools.partial(bar, disable=True)
        restore.append(functools.partial(setattr, gguf_loading, "tqdm", bar))
    try:
        yield
    finally:
        for enable in restore:
            enable()
