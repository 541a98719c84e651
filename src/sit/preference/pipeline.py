"""Phase 3 end to end: answers → scores → pairs, and the pairs step on its own.

Pairs are rebuilt from every target model whose answers are complete and scored, as soon as there
are at least two candidates per instruction; each run of the notebook (one per target) rebuilds
them, so the third run completes the set and a repeated run rewrites the same files.

Outputs in ``<workspace>/data/preference/``: ``pairs.jsonl`` (conversational, as TRL's
``DPOTrainer`` reads it, plus metadata), ``report.json`` and ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..manifest import write_manifest
from ..store import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from .inputs import PHASE, preference_settings, read_filtered
from .pairs import GENERATOR_SOURCE, SKIP_REASONS, Candidate, margin_stats, role_counts, select_pairs
from .responses import ResponsesResult, note_file, respond
from .scoring import GENERATOR_SLUG, ScoreResult, needs_score, reward_fingerprint, score

if TYPE_CHECKING:
    from ..session import Session

PAIRS_FILE = "pairs.jsonl"
REPORT_FILE = "report.json"


@dataclass
class PairsResult:
    """The pairs (when at least two candidate sources are ready) or what is still missing."""

    ready: bool
    message: str
    pairs: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    path: Path | None = None
    missing: dict = field(default_factory=dict)  # source -> why it cannot be used yet


@dataclass
class RunResult:
    responses: ResponsesResult
    scores: list[ScoreResult]
    pairs: PairsResult


def candidate_sources(session: Session, cfg: dict) -> dict[str, Path]:
    """Responses files to draw candidates from: every target's, plus the generator's if enabled."""
    sources = {spec.id: session.workspace.responses_file(spec.slug) for spec in session.registry.by_role("target")}
    if cfg["include_generator_response"]:
        sources[GENERATOR_SOURCE] = session.workspace.responses_file(GENERATOR_SLUG)
    return sources


def readiness(path: Path, filtered: list[dict], scored_with: dict) -> tuple[list[dict] | None, str]:
    """The source's records in filtered-set order, or None and why it cannot be used yet."""
    if not path.exists():
        return None, "no answers yet"
    by_id = {r["id"]: r for r in read_jsonl(path)}
    missing = sum(item["id"] not in by_id for item in filtered)
    if missing:
        return None, f"answers missing for {missing} of {len(filtered)} instructions"
    records = [by_id[item["id"]] for item in filtered]
    if any(r["instruction"] != item["instruction"] for r, item in zip(records, filtered, strict=True)):
        return None, "answers are for other instructions (the filtered set changed)"
    unscored = sum(needs_score(r, scored_with) for r in records)
    if unscored:
        return None, f"{unscored} answers not scored with the current reward settings"
    return records, "ready"


def build_pairs(session: Session, *, verbose: bool = True, **overrides) -> PairsResult:
    """Rebuild ``pairs.jsonl`` from every ready source; with fewer than two, say what is missing."""
    started = session.step_started(PHASE)  # this session's answers and scores are part of the step's time
    cfg = preference_settings(session, overrides)
    filtered = read_filtered(session)
    scored_with = reward_fingerprint(session, cfg)
    ready, missing = {}, {}
    for name, path in candidate_sources(session, cfg).items():
        records, why = readiness(path, filtered, scored_with)
        if records is None:
            missing[name] = why
        else:
            ready[name] = records
    if len(ready) < 2:
        result = PairsResult(False, _not_ready_message(ready, missing), missing=missing)
    else:
        result = _write_pairs(session, cfg, filtered, ready, missing, scored_with, started)
    if verbose:
        print(result.message)
    return result


def generation_notes(session: Session, cfg: dict) -> dict[str, str]:
    """Per model, what went wrong while its answers were generated (a halved batch, NaN/inf); only non-empty."""
    notes = {}
    for name, path in candidate_sources(session, cfg).items():
        note = note_file(path)
        if note.exists() and (text := read_json(note).get("note")):
            notes[name] = text
    return notes


def _not_ready_message(ready: dict, missing: dict) -> str:
    have = ", ".join(ready) or "none"
    lacking = "; ".join(f"{name}: {why}" for name, why in missing.items())
    return (f"Pairs need scored answers from at least 2 models; ready: {have}. Missing: {lacking}. "
            "Run this notebook (or `sit preference --model NAME`) for another target model.")


def _write_pairs(session: Session, cfg, filtered, ready, missing, scored_with, started) -> PairsResult:
    candidates = {item["id"]: [] for item in filtered}
    for records in ready.values():
        for r in records:
            candidates[r["id"]].append(Candidate(r["model"], r["response"], r["score"]))
    selection = select_pairs(filtered, candidates, min_margin=float(cfg["min_margin"]),
                             target_pairs=cfg["target_pairs"])
    models = sorted({c.model for found in candidates.values() for c in found})
    report = {
        "models_used": models, "sources_missing": missing, "reward": scored_with,
        "generation_notes": generation_notes(session, cfg),
        "instructions": len(filtered), "pairs_eligible": selection.eligible, "pairs_kept": len(selection.pairs),
        "target_pairs": cfg["target_pairs"], "beyond_target": selection.beyond_target,
        "skipped": {reason: selection.skipped[reason] for reason in SKIP_REASONS},
        **role_counts(selection.pairs, models), "margin": margin_stats(selection.pairs),
    }
    folder = session.workspace.preference_dir
    path = write_jsonl_atomic(folder / PAIRS_FILE, selection.pairs)
    write_json_atomic(folder / REPORT_FILE, report)
    write_manifest(folder, phase=PHASE, profile=session.profile_name, config=cfg, seed=session.seed,
                   counts={"instructions": len(filtered), "pairs": len(selection.pairs)}, started_at=started,
                   run=session.run_id, world=session.world_id,
                   extra={"models": models, "reward": scored_with})
    message = (f"{len(selection.pairs)} pairs from {len(models)} models over {len(filtered)} instructions "
               f"({selection.eligible} eligible, target {cfg['target_pairs']}) -> {path}")
    return PairsResult(True, message, selection.pairs, report, path, missing)


def run(session: Session, model_name: str, *, progress: bool = True, **overrides) -> RunResult:
    """Answers from one target model (then freed), their scores, and the pairs from every ready model."""
    responses = respond(session, model_name, progress=progress, **overrides)
    scores = score(session, model_name, progress=progress, **overrides)
    return RunResult(responses, scores, build_pairs(session, verbose=progress, **overrides))
