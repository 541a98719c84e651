"""The comparison across the whole workspace: every model and stage, every benchmark, and how sure.

Sources: ``evaluation/results.csv`` (this phase), ``evaluation/agent/results.csv`` (notebook 07, same
columns) and ``evaluation/stages.csv`` (the training phase's reward-model table). For each model, the
``sft`` and ``dpo`` stages are compared with ``base`` on the headline metrics: the delta, and its 95 %
confidence interval from a paired bootstrap over the items both stages were scored on (same items,
same seed). A delta whose interval lies above 0 is "improved", below 0 "worse", else "no significant
change". Two stages evaluated with different benchmark settings are not compared (the reason is said).

Each delta row carries the two means it is the difference of (``base`` and ``value``, over the ``n``
paired items only) and how many items dropped out of the pairing (``dropped``, with a ``note``); the
means over every scored item of one stage are in ``results.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..store import read_jsonl, write_text_atomic
from ..workspace import STAGES, TRAINING_STAGES
from .benchmarks import BENCHMARKS
from .bootstrap import Delta, dropped_note, stage_change
from .results import COLUMNS, check_world, items_path, read_table, results_path, to_csv

if TYPE_CHECKING:
    from ..session import Session

UNITS = {"mt_bench": "questions", "ifeval": "prompts", "mmlu": "questions", "reward": "held-out answers"}
DELTA_FIELDS = ["model", "stage", "benchmark", "metric", "label", "base", "value", "delta", "ci_low", "ci_high", "n",
                "dropped", "verdict", "why", "note"]
STAGE_COLUMNS = ("model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share", "n")
# (benchmark, metric, column label) of the comparison table; IFEval's headline is prompt-level strict.
HEADLINES = [("ifeval", "prompt_level_strict_acc", "IFEval prompt-strict (headline)"),
             ("ifeval", "inst_level_strict_acc", "IFEval inst-strict"),
             ("mmlu", "acc", "MMLU acc"),
             ("mt_bench", "score", "MT-Bench (local judge)"),
             ("reward", "mean_reward", "reward (held-out)")]


@dataclass
class Comparison:
    rows: list[dict]  # every result row (tidy), all sources
    table: list[dict]  # one row per model stage, one column per headline metric
    deltas: list[dict]  # sft/dpo vs base per headline metric, with CI and verdict
    sentences: list[str]
    world: str | None
    notes: list[str] = field(default_factory=list)
    paths: dict = field(default_factory=dict)


def stage_rows(path: Path, world: str | None) -> list[dict]:
    """The training phase's reward table as rows of the results schema (benchmark ``reward``)."""
    import csv

    from ..config import ConfigError

    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        raw = list(reader)
        missing = [c for c in STAGE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; expected {', '.join(STAGE_COLUMNS)}")
    rows = []
    for r in raw:
        low, high = float(r["ci_low"]), float(r["ci_high"])
        rows.append({"model": r["model"], "stage": r["stage"], "benchmark": "reward", "metric": "mean_reward",
                     "value": float(r["mean_reward"]), "stderr": (high - low) / (2 * 1.96), "n": int(float(r["n"])),
                     "world": world or "", "judge": "",
                     "note": f"95% CI [{low:.3f}, {high:.3f}]; stopped {float(r['stopped_share']):.0%} "
                             "(training phase's reward-model table)" + (f"; {r['note']}" if r.get("note") else "")})
    return rows


def _items(session: Session, registry, model: str, stage: str, benchmark: str) -> list[dict] | None:
    try:
        slug = registry.get(model).slug
    except Exception:  # noqa: BLE001 - a model no longer in the registry has no items to pair
        return None
    path = items_path(session, slug, stage, benchmark)
    return read_jsonl(path) if path.exists() else None


def pair_delta(session: Session, model: str, stage: str, benchmark: str, metric: str, *, samples: int,
               confidence: float) -> tuple[Delta | None, str]:
    """The paired-bootstrap delta of ``stage`` vs base, or None and why it cannot be computed."""
    base = _items(session, session.registry, model, "base", benchmark)
    other = _items(session, session.registry, model, stage, benchmark)
    if not base or not other:
        return None, "no per-item scores to pair"
    if {it.get("fingerprint") and str(it["fingerprint"]) for it in base} != {
            it.get("fingerprint") and str(it["fingerprint"]) for it in other}:
        return None, "evaluated with different settings than base; re-run both with the same settings"
    a = {it["id"]: it["scores"][metric] for it in base if _usable(it["scores"].get(metric))}
    b = {it["id"]: it["scores"][metric] for it in other if _usable(it["scores"].get(metric))}
    if not set(a) & set(b):
        return None, "no item scored at both stages"
    delta = stage_change(session.seed, a, b, model=model, stage=stage, vs="base", benchmark=benchmark,
                         metric=metric, samples=samples, confidence=confidence)
    return delta, ""


def _usable(value) -> bool:
    return value is not None and not (isinstance(value, list) and not value)


def compare(session: Session, *, write: bool = True) -> Comparison:
    """Build (and write) ``comparison.csv``, ``summary.md`` from whatever results the workspace holds."""
    from .run import evaluation_settings

    cfg = evaluation_settings(session)
    ws = session.workspace
    rows = read_table(results_path(session))
    agent = read_table(ws.agent_results_file)
    world = session.world_id
    check_world(results_path(session), rows, world)
    check_world(ws.agent_results_file, agent, world)
    rows = rows + agent + stage_rows(ws.stages_table, world)
    table = headline_table(rows, world)
    deltas = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for stage in TRAINING_STAGES:
            for benchmark, metric, label in _headlines(rows):
                if not _has(rows, model, stage, benchmark, metric) or not _has(rows, model, "base", benchmark, metric):
                    continue
                delta, why = pair_delta(session, model, stage, benchmark, metric,
                                        samples=cfg["bootstrap_samples"], confidence=float(cfg["confidence"]))
                deltas.append(_delta_row(rows, model, stage, benchmark, metric, label, delta, why))
    mark_degenerate(session, deltas)
    result = Comparison(rows=rows, table=table, deltas=deltas, sentences=verdict_sentences(deltas), world=world)
    result.notes = summary_notes(session, rows)
    if write:
        result.paths = write_comparison(session, result)
    return result


def mark_degenerate(session: Session, deltas: list[dict]) -> None:
    """A change that involves a result measuring nothing (a constant MMLU answer, a judge that fails to rate or
    rates alike) gets the verdict ``degenerate`` and a note saying what happened, instead of a verdict on its
    interval."""
    from .degenerate import ANY, find_degenerate

    items = {}
    for model in dict.fromkeys(d["model"] for d in deltas):
        for stage in STAGES:
            for benchmark in ("mmlu", "mt_bench"):
                if found := _items(session, session.registry, model, stage, benchmark):
                    items[(model, stage, benchmark)] = found
    named = find_degenerate(items)
    for d in deltas:
        reasons = list(dict.fromkeys(x.what if x.stage == ANY else f"{stage} {x.what}" for stage in ("base", d["stage"])
                                     for x in named if x.concerns(d["model"], stage, d["benchmark"])))
        if reasons and d["verdict"] != "not tested":
            d["verdict"] = "degenerate"
            d["note"] = "; ".join([*reasons, *([d["note"]] if d["note"] else [])])


def _headlines(rows: list[dict]) -> list[tuple[str, str, str]]:
    known = {(b, m) for b, m, _ in HEADLINES}
    extra = sorted({(r["benchmark"], r["metric"]) for r in rows if r["benchmark"] not in {b for b, _ in known}
                    and r["metric"] == _first_metric(r["benchmark"], rows)})
    judges = sorted({r["judge"] for r in rows if r["benchmark"] == "mt_bench" and r.get("judge")})
    named = [(b, m, f"MT-Bench (local judge {', '.join(judges)})" if b == "mt_bench" and judges else label)
             for b, m, label in HEADLINES]
    return named + [(b, m, f"{b} {m}") for b, m in extra]


def _first_metric(benchmark: str, rows: list[dict]) -> str:
    if benchmark in BENCHMARKS:
        return BENCHMARKS[benchmark].headline
    return next(r["metric"] for r in rows if r["benchmark"] == benchmark)


def _has(rows, model, stage, benchmark, metric) -> bool:
    return any((r["model"], r["stage"], r["benchmark"], r["metric"]) == (model, stage, benchmark, metric) for r in rows)


def _value(rows, model, stage, benchmark, metric) -> float:
    for r in rows:
        if (r["model"], r["stage"], r["benchmark"], r["metric"]) == (model, stage, benchmark, metric):
            return r["value"]
    return math.nan


def _delta_row(rows, model, stage, benchmark, metric, label, delta: Delta | None, why: str) -> dict:
    base, value = _value(rows, model, "base", benchmark, metric), _value(rows, model, stage, benchmark, metric)
    out = {"model": model, "stage": stage, "benchmark": benchmark, "metric": metric, "label": label}
    if delta is None:  # the means over every scored item of each stage: nothing was paired
        out.update(base=base, value=value, delta=value - base, ci_low=math.nan, ci_high=math.nan, n=0, dropped=0,
                   verdict="not tested" if why else "", why=why, note="")
    else:
        out.update(base=delta.base_mean, value=delta.other_mean, delta=delta.delta, ci_low=delta.low,
                   ci_high=delta.high, n=delta.n, dropped=delta.dropped, verdict=delta.verdict, why="",
                   note=dropped_note(delta, UNITS.get(benchmark, "items")))
    return out


def headline_table(rows: list[dict], world: str = "") -> list[dict]:
    """One row per model stage (base, sft, dpo order), one column per headline metric; with real models
    (world ``hub``) a last row holds the spec's reference goals."""
    out = []
    keys = dict.fromkeys((r["model"], r["stage"]) for r in rows)
    order = sorted(keys, key=lambda k: (k[0], STAGES.index(k[1]) if k[1] in STAGES else 9))
    for model, stage in order:
        entry = {"model": model, "stage": stage}
        for benchmark, metric, label in _headlines(rows):
            if _has(rows, model, stage, benchmark, metric):
                entry[label] = _value(rows, model, stage, benchmark, metric)
        out.append(entry)
    if world == "hub" and out:
        goals = {label: _goal(benchmark, metric) for benchmark, metric, label in _headlines(rows)}
        out.append({"model": "target (spec)", "stage": "", **{k: v for k, v in goals.items() if v}})
    return out


def _goal(benchmark: str, metric: str) -> str:
    entry = BENCHMARKS.get(benchmark)
    return entry.goal_note if entry and metric == entry.headline else ""


def verdict_sentences(deltas: list[dict]) -> list[str]:
    """A plain sentence per model and stage: improved / no significant change / worse, per benchmark."""
    sentences = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for d in deltas:
        groups.setdefault((d["model"], d["stage"]), []).append(d)
    for (model, stage), items in groups.items():
        parts = []
        for d in items:
            if d["verdict"] in ("", "not tested"):
                parts.append(f"{d['label']}: {d['delta']:+.3f}, not tested ({d['why']})")
            elif d["verdict"] == "degenerate":
                parts.append(f"{d['label']}: no verdict, degenerate ({d['note']})")
            else:
                dropped = f", {d['dropped']} dropped" if d.get("dropped") else ""
                parts.append(f"{d['label']}: {d['verdict']} ({d['base']:.3f} → {d['value']:.3f}, "
                             f"{printed_change(d)}, 95% CI [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}], "
                             f"{d['n']} paired items{dropped})")
        sentences.append(f"{model} {stage.upper()} vs base: " + "; ".join(parts) + ".")
    return sentences


def summary_notes(session: Session, rows: list[dict]) -> list[str]:
    notes = ["IFEval's headline is prompt-level strict accuracy (Qwen's convention); the Open LLM Leaderboard "
             "reports the mean of prompt-strict and inst-strict, both are in results.csv.",
             "MT-Bench scores come from a local judge (see the judge column): they are not comparable with "
             "GPT-4-judged MT-Bench."]
    if session.world == "toy":
        notes.insert(0, "These numbers come from the offline toy world: they test the code path only and say "
                        "nothing about how well the method works on real models.")
    else:
        goals = [b.goal_note for b in BENCHMARKS.values() if b.goal_note]
        notes.insert(0, "Reference goals of the spec: " + "; ".join(goals) + ".")
    judges = sorted({r["judge"] for r in rows if r.get("judge")})
    if judges:
        notes.append("Judge(s): " + ", ".join(judges) + ".")
    return notes


def _md_table(header: list[str], body: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in body]
    return "\n".join(lines)


def printed_change(d: dict, digits: int = 3) -> str:
    """The change as printed beside its two means: the difference of the means as printed."""
    if any(isinstance(d[k], float) and math.isnan(d[k]) for k in ("base", "value")):
        return ""
    return f"{round(d['value'], digits) - round(d['base'], digits):+.{digits}f}"


def summary_markdown(result: Comparison) -> str:
    labels = [label for _, _, label in _headlines(result.rows)
              if any(label in row for row in result.table)]
    parts = ["# Evaluation summary", "", *[f"- {n}" for n in result.notes], "", "## Results", "",
             _md_table(["model", "stage", *labels], [[r["model"], r["stage"], *[r.get(name, math.nan) for name in labels]]
                                                     for r in result.table])]
    parts += ["", "## Change vs base (paired bootstrap over items)", "",
              "base and stage are the means over the paired items (the n items scored at both stages), so the "
              "change is their difference; the means over every item of a stage are in the Results table.", "",
              _md_table(["model", "stage", "metric", "n paired", "base", "stage", "change", "95% CI low",
                         "95% CI high", "verdict", "note"],
                        [[d["model"], d["stage"], d["label"], d["n"], d["base"], d["value"], printed_change(d),
                          d["ci_low"], d["ci_high"], d["verdict"] or d["why"], d["note"]] for d in result.deltas]),
              "", "## In words", "", *[f"- {s}" for s in result.sentences], ""]
    return "\n".join(parts)


def write_comparison(session: Session, result: Comparison) -> dict:
    import csv
    import io

    ws = session.workspace
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=DELTA_FIELDS, lineterminator="\n")
    writer.writeheader()
    for d in result.deltas:  # full precision: delta == value - base, read back
        writer.writerow({k: (repr(v) if isinstance(v, float) and not math.isnan(v) else
                             ("" if isinstance(v, float) else v)) for k, v in d.items()})
    return {"comparison": write_text_atomic(ws.comparison_file, buf.getvalue()),
            "summary": write_text_atomic(ws.summary_file, summary_markdown(result)),
            "all_results": write_text_atomic(ws.all_results_file, to_csv(result.rows))}


__all__ = ["COLUMNS", "Comparison", "compare"]
