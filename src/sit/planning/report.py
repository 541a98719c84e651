"""Tables of the plan: peak memory per step (:mod:`.plan`), wall time per step and the session plan
(:mod:`.timing`, :mod:`.schedule`)."""

from __future__ import annotations

from dataclasses import asdict

from .plan import DEFAULT_BUDGET_GIB, GIB, OVERHEAD_GIB, Estimate

COMPONENTS = ("weights", "lora", "embeddings", "optimizer", "gradients", "activations", "kv_cache", "logits", "overhead",
              "total")
HEADINGS = ("weights", "lora", "embed", "optim", "grads", "activ", "kv", "logits", "ovhd", "total")


def _gib(value: int) -> str:
    return f"{value / GIB:.1f}"


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"


def plan_table(estimates: list[Estimate]) -> str:
    """A fixed-width table (GiB, one decimal) with a flag for every step over budget, and a summary."""
    name_width = max([len("model")] + [len(e.model) for e in estimates])
    work_width = max([len("batch x length")] + [len(e.workload) for e in estimates])
    head = (f"{'model':<{name_width}}  {'phase':<8} {'load':<4} {'params':>7}  {'batch x length':<{work_width}}  "
            + " ".join(f"{h:>6}" for h in HEADINGS) + "  fits    max b  peak at")
    lines = [head, "-" * len(head)]
    for e in estimates:
        values = " ".join(f"{_gib(getattr(e, c)):>6}" for c in COMPONENTS)
        flag = "ok    " if e.fits else "✗ over"
        lines.append(f"{e.model:<{name_width}}  {e.phase:<8} {e.load:<4} {_count(e.params):>7}  "
                     f"{e.workload:<{work_width}}  {values}  {flag}  {e.max_batch or '':>5}  {e.peak_at}")
    lines.append("")
    lines.append(_summary(estimates))
    return "\n".join(lines)


def _summary(estimates: list[Estimate]) -> str:
    budget = estimates[0].budget if estimates else int(DEFAULT_BUDGET_GIB * GIB)
    overhead = estimates[0].overhead if estimates else int(OVERHEAD_GIB * GIB)
    over = [f"{e.model}/{e.phase} ({_gib(e.total)} GiB)" for e in estimates if not e.fits]
    text = (f"Values in GiB. Budget {budget / GIB:.2f} GiB per step; overhead = CUDA context, cuBLAS workspace and "
            f"allocator slack ({_gib(overhead)} GiB). max b: the largest batch of a decoding step that fits the "
            "budget at that length (the profile's batch should not exceed it; out-of-memory halving stays the "
            "safety net).\n")
    if not over:
        return text + f"All {len(estimates)} steps fit."
    return text + f"✗ {len(over)} of {len(estimates)} steps over budget: {', '.join(over)}"


def plan_dataframe(estimates: list[Estimate]):
    """The estimates as a pandas DataFrame, components in GiB."""
    import pandas as pd

    frame = pd.DataFrame([asdict(e) for e in estimates])
    for column in (*COMPONENTS, "budget"):
        frame[column] = frame[column] / GIB
    return frame
