"""Known noise of an evaluation run, silenced where it is made; every other warning still shows.

Silenced, each by its exact message and only while lm-eval runs:

* lm-eval: "`pretrained` model kwarg is not of type `str`" and "Passed an already-initialized model" (the
  project hands ``HFLM`` a loaded model on purpose), "Overwriting default num_fewshot" (the profile sets the shots on purpose) and
  "generation_kwargs ... specified through cli" (the project sets them on purpose).
* bitsandbytes on a CPU without its optional kernel package: "Failed to load CPU gemm_4bit_forward"
  (the CPU fallback is used; a GPU never takes this path).
* transformers' FutureWarning "`is_gradient_checkpointing` is deprecated", raised inside PEFT when an
  adapter stage is loaded (nothing in this project calls it).

Progress bars are shown only where they draw as bars (:func:`progress_default`). Elsewhere (papermill,
CI, a log file) a bar writes a line per update, so the bars of lm-eval, datasets and transformers (model
loading) are switched off for the call.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from contextlib import contextmanager

NOISE = {
    "lm_eval.models.huggingface": ("`pretrained` model kwarg is not of type `str`",
                                   "Passed an already-initialized model through `pretrained`"),
    "lm_eval.evaluator": ("Overwriting default num_fewshot", "generation_kwargs: %s specified through cli"),
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward",),
}
# lm-eval's modules that draw bars with ``from tqdm import tqdm``, some of them without a switch.
FUTURE_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)
LM_EVAL_BARS = ("lm_eval.api.task", "lm_eval.api.model", "lm_eval.models.huggingface")


def progress_default() -> bool:
    """Whether progress bars draw as bars here: in a terminal, or in a notebook whose front end shows
    widgets (Colab, Jupyter with ipywidgets). Not under CI, papermill without widgets, or a log file."""
    if os.environ.get("CI") or os.environ.get("TQDM_DISABLE"):
        return False
    if "ipykernel" in sys.modules:
        return "google.colab" in sys.modules or importlib.util.find_spec("ipywidgets") is not None
    return sys.stderr.isatty()


class DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def _no_bar(tqdm):
    def quiet(*args, **kwargs):
        kwargs["disable"] = True
        return tqdm(*args, **kwargs)

    return quiet


@contextmanager
def quiet_lm_eval(progress: bool = False):
    """Inside: the known noise above is dropped, and without ``progress`` no library draws a bar."""
    filters = [(logging.getLogger(name), DropMessages(prefixes)) for name, prefixes in NOISE.items()]
    for logger, drop in filters:
        logger.addFilter(drop)
    patched, restore = [], []
    if not progress:
        import datasets
        import transformers

        for name in LM_EVAL_BARS:
            module = importlib.import_module(name)
            patched.append((module, module.tqdm))
            module.tqdm = _no_bar(module.tqdm)
        if not datasets.are_progress_bars_disabled():
            datasets.disable_progress_bars()
            restore.append(datasets.enable_progress_bars)
        if transformers.utils.logging.is_progress_bar_enabled():
            transformers.utils.logging.disable_progress_bar()
            restore.append(transformers.utils.logging.enable_progress_bar)
    try:
        with warnings.catch_warnings():
            for message in FUTURE_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            yield
    finally:
        for module, tqdm in patched:
            module.tqdm = tqdm
        for enable in restore:
            enable()
        for logger, drop in filters:
            logger.removeFilter(drop)
