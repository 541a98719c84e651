"""Non-finite logits (NaN/inf) in forward passes that another library drives (lm-eval's ``HFLM``).

The project's own generation counts them per step (:mod:`sit.inference.engine`). A model handed to lm-eval is
watched by a forward hook on the transformers model itself (inside a PEFT wrapper, whose own forward ``generate``
bypasses), which sees every pass: loglikelihood scoring and each decoding step of ``generate``.
A NaN logit does not fail there: MMLU reads it as "always A" and IFEval's answers become a string of ``!``.
The count stays on the device (no synchronisation per pass) and is read once at the end.
"""

from __future__ import annotations

from contextlib import contextmanager


class NonFiniteLogits:
    """How many forward passes there were, and in how many some logit was NaN or infinite."""

    def __init__(self):
        self.passes = 0
        self._broken = None

    def hook(self, module, inputs, output) -> None:
        import torch

        logits = getattr(output, "logits", output)
        if not isinstance(logits, torch.Tensor):
            return
        self.passes += 1
        # max/min over the vocabulary propagate NaN and keep +-inf, without a vocabulary-sized mask
        bad = ~(torch.isfinite(logits.amax(dim=-1)).all() & torch.isfinite(logits.amin(dim=-1)).all())
        self._broken = bad.long() if self._broken is None else self._broken + bad.long()

    @property
    def broken(self) -> int:
        return 0 if self._broken is None else int(self._broken)

    def note(self) -> str:
        """What a result's note says ("" when every logit was finite)."""
        if not self.broken:
            return ""
        return (f"non-finite logits (NaN/inf) in {self.broken} of {self.passes} forward passes (an fp16 overflow?): "
                "these scores are not the model's")


@contextmanager
def watch_logits(model):
    """Inside: every forward pass of ``model`` is counted in the yielded :class:`NonFiniteLogits`."""
    watch = NonFiniteLogits()
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    handle = inner.register_forward_hook(watch.hook)
    try:
        yield watch
    finally:
        handle.remove()
