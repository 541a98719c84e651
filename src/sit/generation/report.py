"""Tables and charts a notebook shows after generation (pandas + matplotlib)."""

from __future__ import annotations

from ..charts import mark_toy


def samples_table(records: list[dict], n: int = 5, width: int = 160):
    import pandas as pd

    rows = [{"id": r["id"], "instruction": _clip(r["instruction"], width), "response": _clip(r["response"], width),
             "finish": f"{r['finish_reason']['instruction']}/{r['finish_reason']['response']}"}
            for r in records[:n]]
    return pd.DataFrame(rows)


def counts_table(counts: dict):
    import pandas as pd

    return pd.DataFrame([{"what": k.replace("_", " "), "count": v} for k, v in counts.items()])


def plot_lengths(records: list[dict], fields=("instruction", "response"), *, world_id: str | None = None):
    """Word-count histograms, one panel per field; returns the figure (marked when ``world_id`` is a toy world)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fields), figsize=(5 * len(fields), 3.2))
    for ax, name in zip(axes if len(fields) > 1 else [axes], fields, strict=True):
        ax.hist([len(r[name].split()) for r in records], bins=30, color="#4C72B0")
        ax.set_title(f"{name} length")
        ax.set_xlabel("words")
        ax.set_ylabel("records")
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
