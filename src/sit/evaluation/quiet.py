"""Known noise of an evaluation run, silenced where it is made; every other warning still shows.

Silenced, each by its exact message and only while lm-eval runs:

* lm-eval: "`pretrained` model kwarg is not of type `str`" and "Passed an already-initialized model" (the
  project hands ``HFLM`` a loaded model on purpose), "Overwriting default num_fewshot" (the profile sets the shots on purpose) and
  "generation_kwargs ... specified through cli" (the project sets them on purpose).
* the libraries' warnings and log records about their own internals (:mod:`sit.noise`; bitsandbytes' missing
  CPU kernel message is dropped from the moment ``sit`` is imported).

Progress bars are shown only where they draw as bars (:func:`sit.progress.progress_default`). Elsewhere (papermill,
CI, a log file) a bar writes a line per update, so the bars of lm-eval, datasets and transformers (model
loading) are switched off for the call.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import contextmanager

from ..noise import DropMessages, library_warnings_silenced
from ..progress import library_bars

NOISE = {
    "lm_eval.models.huggingface": ("`pretrained` model kwarg is not of type `str`",
                                   "Passed an already-initialized model through `pretrained`"),
    "lm_eval.evaluator": ("Overwriting default num_fewshot", "generation_kwargs: %s specified through cli"),
}
# lm-eval's modules that draw bars with ``from tqdm import tqdm``, some of them without a switch.
LM_EVAL_BARS = ("lm_eval.api.task", "lm_eval.api.model", "lm_eval.models.huggingface")


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
    patched = []
    if not progress:
        for name in LM_EVAL_BARS:
            module = importlib.import_module(name)
            patched.append((module, module.tqdm))
            module.tqdm = _no_bar(module.tqdm)
    try:
        with library_bars(progress), library_warnings_silenced():
            yield
    finally:
        for module, tqdm in patched:
            module.tqdm = tqdm
        for logger, drop in filters:
            logger.removeFilter(drop)
