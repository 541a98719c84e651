"""Messages the libraries emit about their own internals, silenced by their exact text. Every other warning and
log record still shows.

* transformers 5's FutureWarning "`is_gradient_checkpointing` is deprecated": PEFT reads the old property when
  it wraps a model in an adapter (training, loading a stage), and TRL reads it around training and generation.
  Nothing in this project calls it, and nothing a user does makes it go away: it tells them nothing.
  Silenced around the calls that raise it (:func:`library_warnings_silenced`).
* bitsandbytes on a CPU with AVX512-BF16 logs, once when it is imported, "Failed to load CPU gemm_4bit_forward
  from kernels-community" (its optional kernel package, which it would fetch from the hub, is not installed;
  the plain CPU code runs instead, and a GPU never takes this path). PEFT imports bitsandbytes whenever it
  wraps a model, in any notebook, so this filter is installed when ``sit`` is imported
  (:func:`silence_library_logs`).
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

LIBRARY_FUTURE_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)
LIBRARY_LOG_NOISE = {"bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward",)}


class DropMessages(logging.Filter):
    """A logger filter that drops the records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def silence_library_logs() -> None:
    """Drop the log records above for the rest of the process (once, however often it is called).

    A logger exists before its module is imported, so this holds for a library imported later."""
    for name, prefixes in LIBRARY_LOG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessages) and f.prefixes == prefixes for f in logger.filters):
            logger.addFilter(DropMessages(prefixes))


@contextmanager
def library_warnings_silenced():
    """Inside: the warnings above are dropped (the filters are restored on the way out)."""
    with warnings.catch_warnings():
        for message in LIBRARY_FUTURE_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield
