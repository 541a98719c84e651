"""Phase 6 for one target model: every stage that exists × the chosen benchmarks → ``evaluation/``.

For each stage (``base``, ``sft``, ``dpo``) the model is loaded once; the lm-eval benchmarks run on it
and it answers MT-Bench, then it is freed. The judge is loaded afterwards, once, and grades the
answers of every stage. A benchmark whose items are already stored with the same settings for the
same adapter is not run again, and MT-Bench answers and judgments resume item by item.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

from ..config import ConfigError, resolve_settings
from ..inference.runner import BatchLimit
from ..manifest import models_done, write_manifest
from ..models import release_memory
from ..preference.base_prompting import base_note, base_prompting, base_stops, completion_template
from ..progress import draws_bars
from ..stages import adapter_finished_at, check_stage, load_stage, require_stage, stage_ready
from ..store import JsonlStore
from .benchmarks import Benchmark, get_benchmark, knobs, parse_benchmarks
from .harness import BatchSize, fixture_digest, item_scores, run_harness, sample_sizes
from .punkt import ensure_punkt
from .quiet import quiet_lm_eval
from .results import metric_rows, read_items, store_results

if TYPE_CHECKING:
    from ..session import Session

SECTION = "evaluation"
PHASE = "06_evaluation"
UNCOMPARED = ("batch_size", "judge_batch_size", "checkpoint_every")  # change speed, not scores


@dataclass
class EvalResult:
    model: str
    stages: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # stage -> why it was not evaluated
    rows: list[dict] = field(default_factory=list)
    ran: list[tuple[str, str]] = field(default_factory=list)  # (stage, benchmark) computed in this call
    punkt: str | None = None
    # lm-eval benchmark (or MT-Bench's answers / judge) -> its batch in this run, halved after out-of-memory errors
    batch_sizes: dict[str, BatchSize | BatchLimit] = field(default_factory=dict)


def evaluation_settings(session: Session, overrides: dict | None = None) -> dict:
    """The profile's ``evaluation`` section, top-level ``overrides`` applied (None values ignored)."""
    cfg = resolve_settings(SECTION, session.section(SECTION), overrides=overrides)
    for key in ("bootstrap_samples",):
        if not isinstance(cfg[key], int) or cfg[key] <= 0:
            raise ConfigError(f"evaluation.{key} must be a whole number > 0, got {cfg[key]!r}")
    if not 0 < float(cfg["confidence"]) < 1:
        raise ConfigError(f"evaluation.confidence must be between 0 and 1, got {cfg['confidence']!r}")
    for stage in cfg["stages"]:
        check_stage(stage)
    parse_benchmarks(cfg["benchmarks"])
    return cfg


def fingerprint(session: Session, benchmark: Benchmark, settings: dict) -> dict:
    """What decides a benchmark's scores apart from the stage (two stages compare only if equal)."""
    fp = {"benchmark": benchmark.name, "world": session.world_id, "seed": session.seed,
          "settings": {k: v for k, v in settings.items() if k not in UNCOMPARED}}
    if settings.get("tasks") == "local" and benchmark.local_task:
        fp["fixture"] = fixture_digest(benchmark, settings)
    return fp


def stage_prompting(spec, stage: str) -> dict | None:
    """How the stage was prompted and stopped, where it is not the adapter's own chat template (base only)."""
    return base_prompting(spec) if stage == "base" else None


def _done(session: Session, spec, stage: str, benchmark: Benchmark, fp: dict) -> bool:
    items = read_items(session, spec.slug, stage, benchmark.name)
    return bool(items) and all(it.get("fingerprint") == fp and it.get("adapter") == adapter_finished_at(
        session, spec.slug, stage) and it.get("prompting") == stage_prompting(spec, stage) for it in items)


def evaluate(session: Session, model_name: str, *, stages=None, benchmarks=None, progress: bool | None = None,
             **overrides) -> EvalResult:
    """Evaluate one target at ``stages`` (default: every stage that exists) on ``benchmarks``.

    ``progress``: progress bars (False: none; else where they draw as bars, see :func:`sit.progress.draws_bars`)."""
    session.step_started(PHASE)
    cfg = evaluation_settings(session, overrides)
    progress = draws_bars(progress)
    with quiet_lm_eval(progress):
        return _evaluate(session, model_name, cfg, stages, benchmarks, progress)


def _evaluate(session: Session, model_name, cfg, stages, benchmarks, progress) -> EvalResult:
    spec = session.model(model_name, role="target")
    chosen = parse_benchmarks(benchmarks or cfg["benchmarks"])
    requested = [check_stage(s) for s in (stages or cfg["stages"])]
    explicit = stages is not None
    result = EvalResult(model=spec.id, stages=[])
    for stage in requested:
        if stage_ready(session, spec.id, stage):
            result.stages.append(stage)
        elif explicit:
            require_stage(session, spec.id, stage)  # raises, naming the notebook that makes the adapter
        else:
            result.skipped[stage] = f"no finished adapter at {session.workspace.adapter_dir(spec.slug, stage)}"
    plan = {b.name: knobs(b, cfg) for b in chosen}
    if "mt_bench" in plan:
        from .mtbench_run import judge_spec

        judge_spec(session, plan["mt_bench"])  # an unregistered judge fails before any model is loaded
    if "ifeval" in plan or any(b.runner == "lm_eval" for b in chosen):
        result.punkt = ensure_punkt(session.workspace, seed=session.seed, offline=session.world != "hub")
    for stage in result.stages:
        todo = [b for b in chosen if not _done(session, spec, stage, b, fingerprint(session, b, plan[b.name]))
                and not (b.runner == "mt_bench" and _answered(session, spec, stage, plan[b.name]))]
        if todo:
            _run_stage(session, spec, stage, todo, plan, cfg, result, progress)
    if any(b.runner == "mt_bench" for b in chosen):
        from .mtbench_run import judge_stages

        judge_stages(session, spec, result, plan["mt_bench"], fingerprint(session, get_benchmark("mt_bench"),
                                                                         plan["mt_bench"]), progress)
    result.rows = _rows_of(session, spec, result.stages, chosen)
    folder = session.workspace.evaluation_dir
    write_manifest(folder, phase=PHASE, profile=session.profile_name, config=cfg, seed=session.seed,
                   counts={"rows": len(result.rows)}, started_at=session.step_started(PHASE),
                   world=session.world_id, run=session.run_id,
                   models=models_done(folder, session.world_id, spec.id),
                   extra={"model": spec.id, "stages": result.stages, "skipped": result.skipped,
                          "punkt": result.punkt, "world": session.world_id})
    return result


def _answered(session: Session, spec, stage, settings) -> bool:
    from .mtbench_run import answers_complete

    return answers_complete(session, spec, stage, settings)


def _run_stage(session: Session, spec, stage, todo, plan, cfg, result, progress) -> None:
    model, tokenizer = load_stage(session, spec.id, stage)
    if stage == "base":
        # A base model never learned a chat template: it is asked in its completion format, as in phase 03.
        tokenizer.chat_template = completion_template(spec) or tokenizer.chat_template
    try:
        for benchmark in todo:
            settings = plan[benchmark.name]
            if benchmark.runner == "lm_eval":
                _run_lm_eval(session, spec, stage, benchmark, settings, model, tokenizer, result, progress)
            else:
                from .mtbench_run import ANSWERS_BATCH, answer_stage

                answer_stage(session, spec, stage, settings, model, tokenizer, progress,
                             result.batch_sizes.setdefault(ANSWERS_BATCH, BatchLimit(scope="run")))
    finally:
        del model, tokenizer
        release_memory()


def _run_lm_eval(session: Session, spec, stage, benchmark, settings, model, tokenizer, result, progress) -> None:
    use_chat = benchmark.chat_template and tokenizer.chat_template is not None
    batch = result.batch_sizes.setdefault(benchmark.name, BatchSize(int(settings.get("batch_size", 1))))
    stops = base_stops(spec, tokenizer) if stage == "base" else None
    raw = run_harness(model, tokenizer, benchmark, settings, chat_template=use_chat, seed=session.seed,
                      progress=progress, stops=stops, batch=batch)
    fp = fingerprint(session, benchmark, settings)
    identity = adapter_finished_at(session, spec.slug, stage)
    prompting = stage_prompting(spec, stage)
    items = [{**it, "adapter": identity, "prompting": prompting} for it in item_scores(raw, benchmark)]
    completion_format = stage == "base" and completion_template(spec) is not None
    note = sample_note(benchmark, settings, raw, completion_format, use_chat, result.punkt)
    if stops and _generates(raw):
        note += "; " + base_note(spec)
    if batch.note():
        note += "; " + batch.note()
    non_finite = raw["non_finite_logits"].note()
    if non_finite:
        warnings.warn(f"{spec.id} {stage}, {benchmark.name}: {non_finite}", stacklevel=2)
        note += "; " + non_finite
    rows = metric_rows(model=spec.id, stage=stage, benchmark=benchmark.name, items=items, metrics=benchmark.metrics,
                       world=session.world_id, note=note, seed=session.seed)
    store_results(session, slug=spec.slug, model=spec.id, stage=stage, benchmark=benchmark.name, rows=rows,
                  items=items, fingerprint=fp)
    result.ran.append((stage, benchmark.name))


def sample_note(benchmark, settings, raw, completion_format: bool, chat, punkt) -> str:
    """``completion_format``: the base stage of a base model, asked in its completion format (an instruct model's
    base stage is asked through its own chat template)."""
    sizes = sample_sizes(raw)
    source = "offline fixture" if settings.get("tasks") == "local" else "hub"
    total = sum((raw.get("n-samples") or {}).get(t, {}).get("original", 0) for t in sizes)
    parts = [f"{sum(sizes.values())} of {total} items ({source}, lm-eval {_version('lm_eval')})"]
    if len(sizes) > 1:
        parts.append(f"{len(sizes)} subjects, limit {settings.get('limit')} each")
    if settings.get("num_fewshot") is not None:
        parts.append(f"{settings['num_fewshot']}-shot")
    if "max_gen_toks" in settings:
        parts.append(f"max_gen_toks {settings['max_gen_toks']}")
    if benchmark.chat_template:
        parts.append(("base completion format" if completion_format else "chat template") if chat else "plain prompt")
    if benchmark.name == "ifeval" and punkt:
        parts.append(punkt)
    return "; ".join(parts)


def _generates(raw: dict) -> bool:
    return any(cfg.get("output_type") == "generate_until" for cfg in (raw.get("configs") or {}).values())


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _rows_of(session: Session, spec, stages, chosen) -> list[dict]:
    from .results import read_table, results_path

    names = {b.name for b in chosen}
    return [r for r in read_table(results_path(session))
            if r["model"] == spec.id and r["stage"] in stages and r["benchmark"] in names]


def answers_store(session: Session, slug: str, stage: str) -> JsonlStore:
    from .mtbench import stage_dir

    return JsonlStore(stage_dir(session, slug, stage) / "answers.jsonl")


__all__ = ["EvalResult", "evaluate", "evaluation_settings"]
