"""Phase 7 for one agent: episodes on a split of the shop, metrics, and rows for the evaluation table.

``evaluate_agent(session, "llm", model, stage)`` runs an LLM agent (a target model's stage, or the generator
as the reference agent); ``evaluate_agent(session, "rule")`` / ``"random"`` run the baselines. Episodes are
kept in ``<workspace>/evaluation/agent/episodes/<agent>-<split>.jsonl`` and reused: a finished run with
the same fingerprint costs nothing, so the baselines and the reference agent run once per workspace
however many times notebook 07 runs. Metrics go to ``evaluation/agent/results.csv`` (columns of the
shared evaluation table; the evaluation phase merges it into ``evaluation/results.csv``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, resolve_settings
from ..manifest import models_done, read_manifest, write_manifest
from ..progress import draws_bars
from ..store import write_text_atomic
from ..workspace import STAGES
from .baselines import RandomAgent, RuleAgent
from .catalog import build_catalog
from .env import Shop
from .episodes import run_episodes
from .metrics import METRICS, summarize
from .schema import Catalog, load_catalog_file

if TYPE_CHECKING:
    from ..session import Session

AGENTS = ("llm", "rule", "random")
BENCHMARK = "webshop"
PHASE = "07_agentbench"
COLUMNS = ("model", "stage", "benchmark", "metric", "value", "stderr", "n", "world", "judge", "note",
           "ci_low", "ci_high")
LABEL = "WebShop-style (AgentBench protocol), bundled catalog — not comparable with published AgentBench scores"
SETTINGS = ("catalog", "split", "goals", "max_rounds", "results_per_page", "prompt", "context_window",
            "max_new_tokens", "batch_size", "bootstrap")


@dataclass
class AgentRun:
    """One agent's episodes on one split and their metrics."""

    model: str  # model id, or "rule baseline" / "random baseline"
    stage: str  # base | sft | dpo | reference | "-"
    agent: str
    split: str
    records: list[dict]
    summary: dict
    path: Path


def agent_settings(session: Session, overrides: dict | None = None) -> dict:
    return resolve_settings("agent", session.section("agent"), overrides=overrides, known=SETTINGS)


@lru_cache(maxsize=4)
def _bundled(seed: int) -> Catalog:
    return build_catalog(seed)


def load_catalog(session: Session, cfg: dict) -> Catalog:
    """The bundled catalog (from the session seed) or a catalog file in the documented schema."""
    if cfg["catalog"] in (None, "bundled"):
        return _bundled(session.seed)
    return load_catalog_file(cfg["catalog"])


def catalog_label(catalog: Catalog, split: str) -> str:
    where = "bundled catalog" if catalog.source.startswith("bundled") else f"catalog {catalog.source}"
    return f"{LABEL.replace('bundled catalog', where)}; {split} split"


def episodes_path(session: Session, key: str, split: str) -> Path:
    return session.workspace.agent_episodes_file(key, split)


def evaluate_agent(session: Session, agent: str = "llm", model: str | None = None, stage: str = "dpo", *, progress: bool = True,
             **overrides) -> AgentRun:
    """Play the split's first ``goals`` goals with one agent (resuming), summarize, update results.csv."""
    if agent not in AGENTS:
        raise ConfigError(f"unknown agent '{agent}' (known: {', '.join(AGENTS)})")
    started = session.step_started(PHASE)  # the baselines and every model of this session count as one run
    cfg = agent_settings(session, overrides)
    catalog = load_catalog(session, cfg)
    goals = catalog.split(cfg["split"], cfg["goals"])
    shop = Shop(catalog, results_per_page=int(cfg["results_per_page"]))
    run = {"agent": agent, "catalog": catalog.digest(), "split": cfg["split"], "max_rounds": cfg["max_rounds"],
           "results_per_page": cfg["results_per_page"]}
    play = {"max_rounds": int(cfg["max_rounds"]), "batch_size": int(cfg["batch_size"]),
            "progress": draws_bars(progress)}
    generation = None  # what went wrong in the model's generation, if it ran
    if agent == "llm":
        if not model:
            raise ConfigError("the llm agent needs a model (a target model, or the generator as reference agent)")
        from .llm import adapter_identity, stage_of

        spec, stage = stage_of(session, model, stage)
        run.update(model=spec.id, stage=stage, adapter=adapter_identity(session, model, stage),
                   world=session.world_id, seed=session.seed, prompt=cfg["prompt"],
                   context_window=cfg["context_window"], max_new_tokens=cfg["max_new_tokens"])
        if stage == "base":  # episodes played before base was asked in its completion format are another run
            from ..preference.base_prompting import base_prompting

            run["prompting"] = base_prompting(spec)
        label, key = spec.id, f"{spec.slug}-{stage}"
        path = episodes_path(session, key, cfg["split"])
        records, generation = _play_llm(session, spec, model, stage, cfg, shop, goals, path, run, play)
    else:
        if agent == "random":
            run["seed"] = session.seed
        label, stage, key = f"{agent} baseline", "-", agent
        path = episodes_path(session, key, cfg["split"])
        player = RuleAgent() if agent == "rule" else RandomAgent(session.seed)
        records = run_episodes(shop, goals, player, path, run, desc=f"{agent} agent", **play)
    summary = summarize(records, seed=session.seed, resamples=int(cfg["bootstrap"]))
    result = AgentRun(label, stage, agent, cfg["split"], records, summary, path)
    folder = session.workspace.agent_dir
    notes = (read_manifest(folder) or {}).get("generation_notes") or {}
    if generation is not None:  # the model ran: its note replaces the one of an earlier run
        notes = {**notes, path.name: generation}
    write_results(session, [result], note="; ".join(n for n in (catalog_label(catalog, cfg["split"]),
                                                              notes.get(path.name)) if n))
    targets = {s.id for s in session.registry.by_role("target")}
    previous = (read_manifest(folder) or {}).get("models") or []
    models = models_done(folder, session.world_id, label) if label in targets else previous
    write_manifest(folder, phase=PHASE, profile=session.profile_name, config=cfg,
                   seed=session.seed, counts={"episodes": len(records)}, started_at=started,
                   world=session.world_id, models=models, run=session.run_id, extra={"last_run": run, "generation_notes": notes})
    return result


def _play_llm(session: Session, spec, model_name, stage, cfg, shop, goals, path, run, play) -> tuple[list[dict], str | None]:
    """Load the model only when episodes are missing; every reference to it dies with this frame.

    Also returns the agent's generation note (trimmed prompts, NaN/inf, a halved batch); None without a model."""
    from ..store import JsonlStore

    stored = {r["id"] for r in JsonlStore(path).read()} if path.exists() else set()
    if path.exists() and all(g["id"] in stored for g in goals):
        return run_episodes(shop, goals, None, path, run, **play), None
    from ..models import release_memory
    from .llm import LLMAgent, load_agent_model

    model, tokenizer = load_agent_model(session, model_name, stage)
    agent = LLMAgent(model, tokenizer, spec, mode=cfg["prompt"], context_window=cfg["context_window"],
                     max_new_tokens=int(cfg["max_new_tokens"]), seed=session.seed, stage=stage)
    try:
        return run_episodes(shop, goals, agent, path, run, desc=f"{spec.slug} {stage}", **play), agent.note()
    finally:
        del agent, model, tokenizer
        release_memory()


# --------------------------------------------------------------------------- the results table


def results_path(session: Session) -> Path:
    return session.workspace.agent_results_file


def read_results(session: Session) -> list[dict]:
    path = results_path(session)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _run_label(note: str) -> str:
    """The catalog and split part of a note: its first two parts."""
    return "; ".join(note.split("; ")[:2])


def rows_for(run: AgentRun, world: str, note: str) -> list[dict]:
    return [{"model": run.model, "stage": run.stage, "benchmark": BENCHMARK, "metric": metric,
             "value": round(stats["value"], 6), "stderr": round(stats["stderr"], 6), "n": stats["n"],
             "world": world, "judge": "", "note": note, "ci_low": round(stats["ci_low"], 6),
             "ci_high": round(stats["ci_high"], 6)} for metric, stats in run.summary.items() if metric in METRICS]


def write_results(session: Session, runs: list[AgentRun], *, note: str) -> Path:
    """Replace these runs' rows (same model, stage, metric, catalog and split) in results.csv; keep every other row.

    The note opens with the catalog and split (:func:`catalog_label`); what follows (generation counts) may change."""
    new = [row for run in runs for row in rows_for(run, session.world_id, note)]
    keys = {(r["model"], r["stage"], r["metric"], _run_label(r["note"])) for r in new}
    kept = [r for r in read_results(session)
            if (r["model"], r["stage"], r["metric"], _run_label(r["note"])) not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: r.get(k, "") for k in COLUMNS} for r in sorted(kept + new, key=_row_order)])
    return write_text_atomic(results_path(session), buffer.getvalue())


def _row_order(row: dict) -> tuple:
    """Model, stage in training order, run, metric: the same table whatever order the runs were made in."""
    stage, metric = row["stage"], row["metric"]
    return (row["model"], STAGES.index(stage) if stage in STAGES else len(STAGES), stage, _run_label(row["note"]),
            METRICS.index(metric) if metric in METRICS else len(METRICS), metric)
