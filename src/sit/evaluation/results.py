"""The one results table (``evaluation/results.csv``) and the per-item scores behind it.

Columns: ``model, stage, benchmark, metric, value, stderr, n, world, judge, note``. A row is one metric
of one model stage on one benchmark; ``n`` is the number of items actually scored (after limits, and
without unparsable judgments), ``note`` says how the sample was drawn. Per-item scores go to
``evaluation/items/<model-slug>/<stage>/<benchmark>.jsonl``, each record with the fingerprint of the
benchmark settings, so two stages are compared item by item only when they were evaluated alike.

A table holds one world: rows from another world (the hub vs a toy world, or another toy world) are
refused, not mixed.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..store import read_jsonl, write_jsonl_atomic, write_text_atomic
from ..workspace import STAGES
from .bootstrap import aggregate, stderr

if TYPE_CHECKING:
    from ..session import Session

COLUMNS = ("model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note")


def results_path(session: Session) -> Path:
    return session.workspace.results_file


def items_path(session: Session, slug: str, stage: str, benchmark: str) -> Path:
    return session.workspace.items_file(slug, stage, benchmark)


def metric_rows(*, model: str, stage: str, benchmark: str, items: list[dict], metrics, world: str,
                judge: str = "", note: str = "", seed: int = 0) -> list[dict]:
    """One row per metric, computed from the per-item scores (``item["scores"][metric]``)."""
    rows = []
    for metric in metrics:
        values = [it["scores"][metric] for it in items if it["scores"].get(metric) is not None]
        values = [v for v in values if not (isinstance(v, list) and not v)]
        rows.append({"model": model, "stage": stage, "benchmark": benchmark, "metric": metric,
                     "value": aggregate(values) if values else float("nan"),
                     "stderr": stderr(values, seed=seed) if values else float("nan"), "n": len(values),
                     "world": world, "judge": judge, "note": note})
    return rows


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV in the results schema (numbers parsed); a wrong header names the file."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; expected {', '.join(COLUMNS)}")
    for number, row in enumerate(rows, start=2):
        try:
            row["value"] = float(row["value"]) if row["value"] != "" else math.nan
            row["stderr"] = float(row["stderr"]) if row["stderr"] not in ("", "N/A") else math.nan
            row["n"] = int(float(row["n"])) if row["n"] != "" else 0
        except ValueError as exc:
            raise ConfigError(f"{path}: line {number}: {exc}") from None
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    return out.getvalue()


def _fmt(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return "" if value is None else value


def check_world(path: Path, rows: list[dict], world: str) -> None:
    other = sorted({r["world"] for r in rows if r["world"] != world})
    if other:
        raise ConfigError(f"{path} holds results from another world ({', '.join(other)}; now {world}). Refusing to "
                          f"mix them. Move {path.parent} away (or use another workspace) to start fresh.")


def store_results(session: Session, *, slug: str, model: str, stage: str, benchmark: str, rows: list[dict],
                  items: list[dict], fingerprint: dict) -> Path:
    """Replace this model stage's rows of this benchmark in ``results.csv`` and write its items."""
    path = results_path(session)
    table = read_table(path)
    check_world(path, table, session.world_id)
    kept = [r for r in table if (r["model"], r["stage"], r["benchmark"]) != (model, stage, benchmark)]
    write_jsonl_atomic(items_path(session, slug, stage, benchmark),
                       [{**it, "fingerprint": fingerprint} for it in items])
    write_text_atomic(path, to_csv(sorted(kept + rows, key=_row_order)))
    return path


def _row_order(row: dict):
    stage = STAGES.index(row["stage"]) if row["stage"] in STAGES else len(STAGES)
    return (row["model"].lower(), row["benchmark"], stage, row["metric"])


def read_items(session: Session, slug: str, stage: str, benchmark: str) -> list[dict] | None:
    path = items_path(session, slug, stage, benchmark)
    return read_jsonl(path) if path.exists() else None
