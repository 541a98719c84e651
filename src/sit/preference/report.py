"""Tables and charts notebook 03 shows: scores per model, margins, who wins, pairs side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..charts import mark_toy, model_label
from ..store import read_jsonl
from .inputs import preference_settings
from .pipeline import candidate_sources

if TYPE_CHECKING:
    from ..session import Session


def answers_table(records: list[dict], n: int = 5, width: int = 200):
    """A few answers of one model: instruction, answer, length in tokens and why generation stopped."""
    import pandas as pd

    rows = [{"id": r["id"], "instruction": _clip(r["instruction"], width), "answer": _clip(r["response"], width),
             "tokens": r["response_tokens"], "finish": r["finish_reason"]} for r in records[:n]]
    return pd.DataFrame(rows, columns=["id", "instruction", "answer", "tokens", "finish"])


def scored_answers(session: Session) -> dict[str, list[dict]]:
    """Every candidate source's scored records so far (model id -> records), complete or not."""
    out = {}
    for name, path in candidate_sources(session, preference_settings(session)).items():
        if path.exists():
            records = [r for r in read_jsonl(path) if "score" in r]
            if records:
                out[name] = records
    return out


def score_table(scored: dict[str, list[dict]]):
    """Count, mean, spread and share of empty answers per model."""
    import pandas as pd

    rows = []
    for name, records in scored.items():
        scores = pd.Series([r["score"] for r in records])
        rows.append({"model": name, "answers": len(records), "mean score": scores.mean(),
                     "median": scores.median(), "std": scores.std(), "min": scores.min(), "max": scores.max(),
                     "empty answers": sum(not r["response"].strip() for r in records)})
    return pd.DataFrame(rows)


def plot_score_histograms(scored: dict[str, list[dict]], *, world_id: str | None = None):
    """One reward-score histogram per model on a shared x axis; returns the figure."""
    import matplotlib.pyplot as plt

    names = list(scored) or ["(no scored answers yet)"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), sharex=True, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.hist([r["score"] for r in scored.get(name, [])], bins=25, color="#4C72B0")
        ax.set_title(name.split("/")[-1])
        ax.set_xlabel("reward score")
        ax.set_ylabel("answers")
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def plot_margins(pairs: list[dict], *, world_id: str | None = None):
    """Histogram of chosen-minus-rejected score over the kept pairs; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist([p["margin"] for p in pairs], bins=25, color="#55A868")
    ax.set_title(f"margin of the {len(pairs)} kept pairs" if pairs else "no pairs yet")
    ax.set_xlabel("chosen score - rejected score")
    ax.set_ylabel("pairs")
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def choice_table(pairs: list[dict]):
    """How often each model's answer was chosen and rejected."""
    import pandas as pd

    models = sorted({p["chosen_model"] for p in pairs} | {p["rejected_model"] for p in pairs})
    rows = [{"model": m, "chosen": sum(p["chosen_model"] == m for p in pairs),
             "rejected": sum(p["rejected_model"] == m for p in pairs)} for m in models]
    return pd.DataFrame(rows, columns=["model", "chosen", "rejected"])


def plot_choices(table, *, world_id: str | None = None):
    """Grouped bars of :func:`choice_table`; returns the figure."""
    import matplotlib.pyplot as plt

    labels = [model_label(m) for m in table["model"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(labels)), 3.6))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], table["chosen"], width=0.4, label="chosen", color="#55A868")
    ax.bar([i + 0.2 for i in x], table["rejected"], width=0.4, label="rejected", color="#C44E52")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("pairs")
    ax.set_title("chosen / rejected per model" if labels else "no pairs yet")
    ax.legend()
    fig.tight_layout()
    mark_toy(fig, world_id)
    return fig


def pairs_side_by_side(pairs: list[dict], n: int = 5, width: int = 300):
    """The first ``n`` pairs (largest margins first): instruction, chosen and rejected answers, scores."""
    import pandas as pd

    rows = [{"instruction": _clip(p["prompt"][0]["content"], width),
             "chosen": _clip(p["chosen"][0]["content"], width),
             "rejected": _clip(p["rejected"][0]["content"], width),
             "chosen by": f"{p['chosen_model'].split('/')[-1]} ({p['chosen_score']:.2f})",
             "rejected from": f"{p['rejected_model'].split('/')[-1]} ({p['rejected_score']:.2f})",
             "margin": p["margin"]} for p in pairs[:n]]
    return pd.DataFrame(rows, columns=["instruction", "chosen", "rejected", "chosen by", "rejected from", "margin"])


def pairs_summary(report: dict):
    """Instructions, pairs kept, and every reason an instruction yielded no pair (from ``report.json``)."""
    import pandas as pd

    if not report:
        return pd.DataFrame(columns=["what", "count"])
    rows = [("instructions", report["instructions"]), ("pairs eligible", report["pairs_eligible"]),
            ("pairs kept", report["pairs_kept"]), ("left out beyond target_pairs", report["beyond_target"])]
    rows += [(f"skipped: {reason.replace('_', ' ')}", count) for reason, count in report["skipped"].items()]
    return pd.DataFrame(rows, columns=["what", "count"])


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
