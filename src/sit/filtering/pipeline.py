"""Running the filter pipeline over records or a JSONL file, with a per-filter report.

Every input record ends up in exactly one of ``kept`` and ``rejected``; a rejected record is the
original record plus a ``rejection`` entry naming the filter (or ``selection``) and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..generation.magpie import OUTPUT_FILE as RAW_FILE
from ..manifest import now, write_manifest
from ..store import ArtifactError, iter_jsonl, write_json_atomic, write_jsonl_atomic
from .config import filter_config
from .registry import FILTERS, Verdict
from .selection import select, selection_reason

if TYPE_CHECKING:
    from ..session import Session

REQUIRED_TEXT_FIELDS = ("instruction", "response")
SELECTION = "selection"
MAX_INVALID_LISTED = 100
FILTERED_FILE, REJECTED_FILE, REPORT_FILE = "filtered.jsonl", "rejected.jsonl", "report.json"


@dataclass
class FilterResult:
    """What a run produced: kept records (unchanged), rejected ones (with ``rejection``), the report,
    the validated config, and seconds per filter (wall time, both runs of a filter)."""

    kept: list[dict]
    rejected: list[dict]
    report: dict
    config: dict
    timings: dict[str, float] = field(default_factory=dict)


def record_problem(value, seen_ids: dict | None = None, where=None) -> str | None:
    """What makes ``value`` unusable as an input record, or ``None``.

    ``seen_ids`` maps ids already read to where they were (for a duplicate-id message)."""
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    for name in ("id", *REQUIRED_TEXT_FIELDS):
        if name not in value:
            return f"record has no '{name}' field"
    for name in REQUIRED_TEXT_FIELDS:
        if not isinstance(value[name], str):
            return f"'{name}' must be a string, got {type(value[name]).__name__}"
    rid = value["id"]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        return f"'id' must be a string or an integer, got {type(rid).__name__}"
    if seen_ids is not None:
        if rid in seen_ids:
            return f"duplicate id {rid!r} (first at {seen_ids[rid]})"
        seen_ids[rid] = where
    return None


def run_filters(records: Iterable[dict], config: Mapping | None = None, seed: int = 42) -> FilterResult:
    """Run the configured pipeline, then select the target count.

    ``config`` is a filtering config (plain keys; see :func:`filter_config`), validated here."""
    config = filter_config(config)
    records = list(records)
    _check_records(records)
    rejections: list[tuple[str, dict] | None] = [None] * len(records)
    alive, steps, timings = _run_pipeline(records, config, rejections)
    chosen, selection = select([records[i] for i in alive], config["selection"], config["target"], seed)
    chosen_set = {alive[i] for i in chosen}
    for index in alive:
        if index not in chosen_set:
            rejections[index] = (SELECTION, {"reason": selection_reason(selection)})
    kept = [records[i] for i in sorted(chosen_set)]
    rejected = [{**record, "rejection": {"filter": rejection[0], **rejection[1]}}
                for record, rejection in zip(records, rejections, strict=True) if rejection is not None]
    report = {"input": len(records), "passed_filters": len(alive), "output": len(kept), "seed": seed,
              "pipeline": list(config["pipeline"]), "filters": steps, "selection": selection,
              "invalid_lines_skipped": 0, "invalid_lines": []}
    return FilterResult(kept=kept, rejected=rejected, report=report, config=config, timings=timings)


def _check_records(records: list[dict]) -> None:
    seen: dict = {}
    for index, record in enumerate(records):
        problem = record_problem(record, seen, where=f"record {index}")
        if problem:
            raise ValueError(f"record {index}: {problem}")


def _run_pipeline(records: list[dict], config: dict, rejections: list) -> tuple[list[int], list[dict], dict]:
    """Apply each filter in order, recording the first rejection of every record in ``rejections``.

    Returns the indices that passed every filter, one report entry per filter, and timings."""
    alive = list(range(len(records)))
    steps, timings = [], {}
    for name in config["pipeline"]:
        started = time.perf_counter()
        solo, on_alive = _apply(name, records, alive, config)
        timings[name] = round(time.perf_counter() - started, 3)
        survivors = []
        for index, verdict in zip(alive, on_alive, strict=True):
            if verdict:
                rejections[index] = (name, verdict)
            else:
                survivors.append(index)
        steps.append({"filter": name, "description": FILTERS[name].description,
                      "removed": len(alive) - len(survivors), "solo": sum(1 for v in solo if v),
                      "remaining": len(survivors)})
        alive = survivors
    return alive, steps, timings


def _apply(name: str, records: list[dict], alive: list[int], config: dict) -> tuple[list[Verdict], list[Verdict]]:
    """Verdicts of filter ``name`` on all records (alone) and on the records still in the pipeline."""
    spec = FILTERS[name]
    if spec.per_record:
        solo = spec.func(records, config)
        return solo, [solo[i] for i in alive]
    solo, on_alive = spec.func(records, config, [range(len(records)), alive])
    return solo, on_alive


def read_records(path: str | Path, skip_invalid: bool = False) -> tuple[list[dict], list[dict]]:
    """The records of a JSONL file and the invalid lines skipped (``[{"line", "error"}]``).

    Without ``skip_invalid`` the first invalid line raises :class:`ArtifactError` naming the file
    and line. A torn last line (a writer killed mid-line) is dropped with a warning unless
    ``skip_invalid`` is set, in which case it is counted like any other invalid line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    lines = _parse_lines_leniently(path) if skip_invalid else ((n, v, None) for n, v in iter_jsonl(path))
    records, invalid, seen = [], [], {}
    for number, value, parse_error in lines:
        problem = parse_error or record_problem(value, seen, where=f"line {number}")
        if problem is None:
            records.append(value)
        elif skip_invalid:
            invalid.append({"line": number, "error": problem})
        else:
            raise ArtifactError(f"{path}: line {number}: {problem}")
    return records, invalid


def _parse_lines_leniently(path: Path):
    """``(line_number, value, error)`` for every non-blank line; ``error`` says why a line is not JSON."""
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8")), None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield number, None, f"not valid JSON ({exc})"


def filter_file(input_path: str | Path, output_dir: str | Path, config: Mapping | None = None, seed: int = 42,
                skip_invalid: bool = False, profile: str = "custom") -> FilterResult:
    """Filter a JSONL file into ``output_dir``: filtered.jsonl, rejected.jsonl, report.json, manifest.json.

    Every file is replaced atomically; the same input, config and seed give the same outputs."""
    started_at = now()
    records, invalid = read_records(input_path, skip_invalid)
    result = run_filters(records, config, seed)
    result.report.update(invalid_lines_skipped=len(invalid), invalid_lines=invalid[:MAX_INVALID_LISTED])
    output_dir = Path(output_dir)
    write_jsonl_atomic(output_dir / FILTERED_FILE, result.kept)
    write_jsonl_atomic(output_dir / REJECTED_FILE, result.rejected)
    write_json_atomic(output_dir / REPORT_FILE, result.report)
    counts = {"input": result.report["input"], "output": len(result.kept), "rejected": len(result.rejected),
              "invalid_lines_skipped": len(invalid)}
    write_manifest(output_dir, phase="filtering", profile=profile, config=result.config, seed=seed, counts=counts,
                   started_at=started_at, extra={"input_file": str(Path(input_path).resolve()),
                                                 "seconds_per_filter": result.timings})
    return result


def filter_workspace(session: Session, skip_invalid: bool = False, **overrides) -> FilterResult:
    """Filter ``data/raw/magpie.jsonl`` into ``data/filtered/`` with the session profile's settings.

    ``overrides`` are filtering keys (e.g. ``target=500``, ``jaccard_threshold=0.7``)."""
    input_path = session.workspace.raw_dir / RAW_FILE
    if not input_path.is_file():
        raise FileNotFoundError(f"no raw data at {input_path}: run notebook 01 (Magpie generation) first")
    config = filter_config(session.section("filtering"), {k: v for k, v in overrides.items() if v is not None})
    return filter_file(input_path, session.workspace.filtered_dir, config, seed=session.seed,
                       skip_invalid=skip_invalid, profile=session.profile_name)
