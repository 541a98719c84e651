"""Everything the report and the Hub cards read, from the workspace's artifacts only (no model is loaded).

Each artifact is optional: a step that has not run yet leaves its field ``None`` (or empty), and the
report says so. What exists is checked: a CSV without a required column, or with a value that is not a
number, stops with the file, line and field. Artifacts made in different worlds (a toy world and the
hub, or two toy worlds) are refused together: one report never mixes them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from ..evaluation.bootstrap import PROPORTIONS, wilson
from ..manifest import manifest_path
from ..store import read_json, read_jsonl
from ..workspace import STAGES, TRAINING_STAGES, Workspace

LAYOUT = Workspace.layout()  # paths relative to the workspace root, as the report names its sources
STAGES_FILE = LAYOUT.rel(LAYOUT.stages_table)
RESULTS_FILE = LAYOUT.rel(LAYOUT.results_file)
AGENT_FILE = LAYOUT.rel(LAYOUT.agent_results_file)  # notebook 07's rows, same columns
COMPARISON_FILE = LAYOUT.rel(LAYOUT.comparison_file)  # the evaluation phase's paired-bootstrap deltas vs base
SUMMARY_FILE = LAYOUT.rel(LAYOUT.summary_file)
EVALUATION_MANIFEST = LAYOUT.rel(manifest_path(LAYOUT.evaluation_dir))
AGENT_MANIFEST = LAYOUT.rel(manifest_path(LAYOUT.agent_dir))
ANSWERS_PATTERN = LAYOUT.rel(LAYOUT.stage_answers_file("<model>", "<stage>"))  # the held-out answers of any stage


def adapter_file(name: str, stage: str = "sft") -> str:
    """A trained stage's file as the report names it for any model (``models/<model>/sft/manifest.json``;
    ``name`` ``"/"``: the folder itself, ``models/<model>/sft/``)."""
    folder = LAYOUT.rel(LAYOUT.adapter_dir("<model>", stage))
    return f"{folder}/" if name == "/" else f"{folder}/{name}"
STAGES_COLUMNS = ("model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share", "n")
RESULTS_COLUMNS = ("model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note")
COMPARISON_COLUMNS = ("model", "stage", "benchmark", "metric", "label", "base", "value", "delta", "ci_low",
                      "ci_high", "n", "verdict")
NUMERIC = {"mean_reward", "ci_low", "ci_high", "stopped_share", "n", "value", "stderr", "base", "delta",
           "delta_low", "delta_high", "vs_mean", "stage_mean", "paired_n", "dropped"}
COUNTS = {"n", "paired_n", "dropped"}
STAGE_ORDER = {stage: k for k, stage in enumerate(STAGES)}


@dataclass
class TrainedStage:
    """One finished adapter folder (``models/<slug>/<stage>/`` with its ``manifest.json``)."""

    slug: str
    model: str  # hub id
    stage: str
    folder: Path
    manifest: dict
    log_history: list[dict] | None
    curves: list[Path]  # PNG charts the training phase saved beside the adapter


@dataclass
class Evidence:
    root: Path
    raw_manifest: dict | None = None
    filtered_manifest: dict | None = None
    filtered_report: dict | None = None
    filtered: list[dict] | None = None
    preference_manifest: dict | None = None
    preference_report: dict | None = None
    pairs: list[dict] | None = None
    trained: list[TrainedStage] = field(default_factory=list)
    evaluation_manifest: dict | None = None
    agent_manifest: dict | None = None
    stages: list[dict] | None = None  # rows of evaluation/stages.csv
    results: list[dict] | None = None  # rows of evaluation/results.csv and evaluation/agent/results.csv
    comparison: list[dict] | None = None  # rows of evaluation/comparison.csv
    results_from_agent_file: bool = False  # agent rows read from evaluation/agent/results.csv
    summary: str | None = None
    answers: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (model, stage) -> held-out answers
    items: dict[tuple[str, str, str], list[dict]] = field(default_factory=dict)  # (model, stage, benchmark) -> items
    episodes: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (agent, stage) -> episode records
    worlds: dict[str, str] = field(default_factory=dict)  # artifact -> world it names
    sources: list[str] = field(default_factory=list)
    # hub id -> registry entry: what the artifacts only name (is a target an instruct model? a toy stand-in?)
    specs: dict = field(default_factory=dict)

    @property
    def world(self) -> str | None:
        return next(iter(self.worlds.values()), None)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def stage(self, slug: str, stage: str) -> TrainedStage | None:
        return next((t for t in self.trained if t.slug == slug and t.stage == stage), None)

    def manifests(self) -> dict[str, dict]:
        """Every manifest read, keyed by its path in the workspace."""
        found = {"data/raw/manifest.json": self.raw_manifest, "data/filtered/manifest.json": self.filtered_manifest,
                 "data/preference/manifest.json": self.preference_manifest}
        found.update({self.rel(t.folder / "manifest.json"): t.manifest for t in self.trained})
        found.update({EVALUATION_MANIFEST: self.evaluation_manifest, AGENT_MANIFEST: self.agent_manifest})
        return {k: v for k, v in found.items() if v}


def read_evidence(root: str | Path, registry) -> Evidence:
    """Read every artifact under ``root`` that exists; refuse artifacts of different worlds."""
    ev = Evidence(root=Path(root).resolve(), specs={spec.id: spec for spec in registry})
    ev.raw_manifest = _json(ev, "data/raw/manifest.json")
    ev.filtered_manifest = _json(ev, "data/filtered/manifest.json")
    ev.filtered_report = _json(ev, "data/filtered/report.json")
    ev.filtered = _json(ev, "data/filtered/filtered.jsonl", read_jsonl)
    ev.preference_manifest = _json(ev, "data/preference/manifest.json")
    ev.preference_report = _json(ev, "data/preference/report.json")
    ev.pairs = _json(ev, "data/preference/pairs.jsonl", read_jsonl)
    ev.trained = _trained(ev, registry)
    ev.evaluation_manifest = _json(ev, EVALUATION_MANIFEST)
    ev.agent_manifest = _json(ev, AGENT_MANIFEST)
    ev.stages = _csv(ev, STAGES_FILE, STAGES_COLUMNS)
    results, agent = _csv(ev, RESULTS_FILE, RESULTS_COLUMNS), _csv(ev, AGENT_FILE, RESULTS_COLUMNS)
    ev.results = _merge(results, agent)
    ev.results_from_agent_file = len(ev.results or []) > len(results or [])
    ev.comparison = _csv(ev, COMPARISON_FILE, COMPARISON_COLUMNS)
    summary = ev.root / SUMMARY_FILE
    if summary.is_file():
        ev.summary = summary.read_text(encoding="utf-8")
        ev.sources.append(SUMMARY_FILE)
    ev.answers = _answers(ev, registry)
    ev.items = _items(ev, registry)
    ev.episodes = _episodes(ev)
    _collect_worlds(ev)
    return ev


def _json(ev: Evidence, rel: str, reader=read_json):
    """The file's content (``reader``: read_json or read_jsonl), noted as a source; None when it is missing."""
    path = ev.root / rel
    if not path.is_file():
        return None
    ev.sources.append(rel)
    return reader(path)


def _trained(ev: Evidence, registry) -> list[TrainedStage]:
    found = []
    for spec in registry.by_role("target"):
        for stage in TRAINING_STAGES:
            folder = ev.root / LAYOUT.adapter_dir(spec.slug, stage)
            manifest = _json(ev, ev.rel(folder / "manifest.json"))
            if manifest is None:  # no manifest: the stage has not finished
                continue
            history = _json(ev, ev.rel(folder / "log_history.json"))
            if history is not None and not isinstance(history, list):
                raise ConfigError(f"{folder / 'log_history.json'}: expected a JSON list of log entries")
            curves = sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))  # not a temp file
            ev.sources += [ev.rel(p) for p in curves]
            found.append(TrainedStage(spec.slug, spec.id, stage, folder, manifest, history, curves))
    return found


def _answers(ev: Evidence, registry) -> dict[tuple[str, str], list[dict]]:
    """Each stage's answers to the held-out instructions (``evaluation/stages/<slug>-<stage>.jsonl``)."""
    found = {}
    for spec in registry.by_role("target"):
        for stage in STAGES:
            records = _json(ev, LAYOUT.rel(LAYOUT.stage_answers_file(spec.slug, stage)), read_jsonl)
            if records:
                found[(spec.id, stage)] = records
    return found


ITEM_BENCHMARKS = ("mmlu", "mt_bench", "ifeval", "reward")  # per-item scores the report reads to name degenerate results


def _items(ev: Evidence, registry) -> dict[tuple[str, str, str], list[dict]]:
    """Each stage's per-item benchmark scores (``evaluation/items/<slug>/<stage>/<benchmark>.jsonl``)."""
    found = {}
    for spec in registry.by_role("target"):
        for stage in STAGES:
            for benchmark in ITEM_BENCHMARKS:
                path = ev.root / LAYOUT.items_file(spec.slug, stage, benchmark)
                if path.is_file():
                    found[(spec.id, stage, benchmark)] = read_jsonl(path)
    return found


def _episodes(ev: Evidence) -> dict[tuple[str, str], list[dict]]:
    """Every agent's episodes, keyed as results.csv names the agent: (model id, stage) or
    (``rule baseline``, ``-``)."""
    folder = ev.root / LAYOUT.agent_dir / "episodes"
    found: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for record in read_jsonl(path):
            run = record.get("run") or {}
            key = ((run["model"], run.get("stage", "")) if run.get("agent") == "llm" and run.get("model")
                   else (f"{run.get('agent', path.stem)} baseline", "-"))
            found.setdefault(key, []).append(record)
        ev.sources.append(ev.rel(path))
    return found


def _merge(results: list[dict] | None, agent: list[dict] | None) -> list[dict] | None:
    """results.csv plus the agent rows it does not hold yet (the evaluation phase merges them in time)."""
    if results is None and agent is None:
        return None
    key = lambda r: (r["model"], r["stage"], r["benchmark"], r["metric"])  # noqa: E731
    known = {key(r) for r in results or []}
    return (results or []) + [r for r in agent or [] if key(r) not in known]


def _csv(ev: Evidence, rel: str, required: tuple[str, ...]) -> list[dict] | None:
    path = ev.root / rel
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        lacking = [c for c in required if c not in columns]
        if lacking:
            raise ConfigError(f"{path}: missing column(s) {', '.join(lacking)} (has: {', '.join(columns) or 'none'})")
        rows = []
        for line, row in enumerate(reader, start=2):
            rows.append({key: _cell(path, line, key, value) for key, value in row.items()})
    ev.sources.append(rel)
    return rows


def _cell(path: Path, line: int, key: str, value: str | None):
    if key not in NUMERIC:
        return value or ""
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{path}: line {line}: field '{key}' is not a number: {value!r}") from None
    if key in COUNTS:
        if not number.is_integer() or number < 0:
            raise ConfigError(f"{path}: line {line}: field '{key}' must be a count, got {value!r}")
        return int(number)
    return number if math.isfinite(number) else None


def _worlds_in(obj) -> set[str]:
    """Every string stored under a key named ``world``, at any depth."""
    if isinstance(obj, dict):
        found = {v for k, v in obj.items() if k == "world" and isinstance(v, str) and v}
        for value in obj.values():
            found |= _worlds_in(value)
        return found
    if isinstance(obj, list):
        return set().union(*(_worlds_in(v) for v in obj)) if obj else set()
    return set()


def _collect_worlds(ev: Evidence) -> None:
    for rel, manifest in ev.manifests().items():
        for world in sorted(_worlds_in(manifest)):
            ev.worlds.setdefault(f"{rel} ({world})" if rel in ev.worlds else rel, world)
    for rel, rows in ((STAGES_FILE, ev.stages), (RESULTS_FILE, ev.results), (COMPARISON_FILE, ev.comparison)):
        for world in sorted({r.get("world") for r in rows or [] if r.get("world")}):
            ev.worlds.setdefault(rel if rel not in ev.worlds else f"{rel} ({world})", world)
    distinct = sorted(set(ev.worlds.values()))
    if len(distinct) > 1:
        where = "; ".join(f"{rel}: {world}" for rel, world in ev.worlds.items())
        raise ConfigError(f"{ev.root}: the artifacts come from different worlds ({where}). A report or a Hub "
                          "folder would mix them: re-run the stale steps, or use a workspace of one world.")


def ci(row: dict) -> tuple[float | None, float | None, str]:
    """The 95% interval of a results row: its own ``ci_low``/``ci_high`` (a bootstrap over episodes stays
    inside [0, 1]), else Wilson's for a proportion, else value ± 1.96 stderr.

    The third item says which (``wilson``, ``reported`` or ``normal``; empty when none is known)."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is not None and high is not None:
        return low, high, "reported"
    value, n = row.get("value"), row.get("n")
    if row.get("metric") in PROPORTIONS and value is not None and n and 0.0 <= value <= 1.0:
        low, high = wilson(value, int(n))
        return low, high, "wilson"
    stderr = row.get("stderr")
    if value is not None and stderr is not None:
        return value - 1.96 * stderr, value + 1.96 * stderr, "normal"
    return None, None, ""


def stage_sort_key(row: dict) -> tuple:
    return (row.get("model", ""), STAGE_ORDER.get(row.get("stage", ""), 9), row.get("stage", ""))
