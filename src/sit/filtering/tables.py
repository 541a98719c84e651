"""Tables of a filtering run for display: the per-filter report and rejected examples."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .config import DEFAULT_PIPELINE
from .pipeline import SELECTION

EXAMPLE_TEXT_CHARS = 160


def report_table(report: dict) -> pd.DataFrame:
    """One row per filter in pipeline order, then selection: removed, would remove alone, remaining."""
    rows = [{"step": step["filter"], "removed": step["removed"], "alone": step["solo"],
             "remaining": step["remaining"], "what": step["description"]} for step in report["filters"]]
    selection = report["selection"]
    rows.append({"step": SELECTION, "removed": selection["dropped"], "alone": selection["dropped"],
                 "remaining": selection["selected"],
                 "what": f"{selection['mode']} (target {selection['target']})"})
    table = pd.DataFrame(rows, columns=["step", "removed", "alone", "remaining", "what"])
    total = report["input"] or 1
    table.insert(2, "removed %", (100 * table["removed"] / total).round(1))
    return table


def rejected_examples(rejected: Sequence[dict], per_filter: int = 3) -> pd.DataFrame:
    """The first ``per_filter`` rejected records of each filter, with the reason, texts shortened.

    Filters appear in the default pipeline order, then any others, then ``selection``."""
    groups: dict[str, list[dict]] = {}
    for record in rejected:
        group = groups.setdefault(record["rejection"]["filter"], [])
        if len(group) < per_filter:
            group.append(record)
    rows = [{"filter": name, "id": record["id"], "reason": record["rejection"]["reason"],
             "instruction": _shorten(record["instruction"]), "response": _shorten(record["response"])}
            for name in sorted(groups, key=_display_rank) for record in groups[name]]
    return pd.DataFrame(rows, columns=["filter", "id", "reason", "instruction", "response"])


def _display_rank(name: str) -> tuple[int, int]:
    if name == SELECTION:
        return (2, 0)
    if name in DEFAULT_PIPELINE:
        return (0, DEFAULT_PIPELINE.index(name))
    return (1, 0)  # sorted() is stable: other filters keep their order of appearance


def _shorten(text: str, limit: int = EXAMPLE_TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
