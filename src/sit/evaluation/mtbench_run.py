"""MT-Bench inside an evaluation run: a stage's answers while its model is loaded, then the judge
grades every stage, and the per-question scores become rows of the results table.

The score of a question is the mean of its parsed turn ratings; the benchmark's score is the mean over
all parsed judgments (FastChat's average), so a question's weight is its number of parsed turns.
Unparsable judgments are left out of every mean and counted in the row's note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..inference.runner import BatchLimit
from ..models import release_memory
from ..preference.base_prompting import base_note, base_prompting
from ..stages import adapter_finished_at
from ..store import JsonlStore
from .benchmarks import get_benchmark
from .judging import Judge, judge_answers, judge_fingerprint
from .mtbench import answer_questions, stage_dir
from .mtbench_data import CATEGORIES, read_questions
from .results import metric_rows, store_results

if TYPE_CHECKING:
    from ..session import Session

LABEL = "MT-Bench (local judge {judge})"
# Keys of the run's batch sizes (EvalResult.batch_sizes) for MT-Bench's two generating steps.
ANSWERS_BATCH, JUDGE_BATCH = "mt_bench answers", "mt_bench judge"


def answers_fingerprint(session: Session, spec, stage: str, settings: dict) -> dict:
    fp = {"model": spec.id, "stage": stage, "adapter": adapter_finished_at(session, spec.slug, stage),
          "world": session.world_id, "seed": session.seed, "max_new_tokens": int(settings["max_new_tokens"]),
          "questions": settings["questions"], "temperatures": "fastchat"}
    if stage == "base":  # answers made before base stopped at phase 03's stop set are not mixed with new ones
        fp["prompting"] = base_prompting(spec)
    return fp


def answer_stage(session: Session, spec, stage: str, settings: dict, model, tokenizer, progress: bool,
                 batch_limit: BatchLimit | None = None) -> dict:
    """One stage's answers; ``batch_limit`` is the run's (a batch halved at one stage stays halved at the next)."""
    store = JsonlStore(stage_dir(session, spec.slug, stage) / "answers.jsonl")
    return answer_questions(store, read_questions(settings["questions"]), model, tokenizer, spec,
                            fingerprint=answers_fingerprint(session, spec, stage, settings), seed=session.seed,
                            stage=stage, settings=settings, progress=progress, batch_limit=batch_limit)


def answers_complete(session: Session, spec, stage: str, settings: dict) -> bool:
    """Whether every answer of this stage is stored with the current settings (no model needed then)."""
    store = JsonlStore(stage_dir(session, spec.slug, stage) / "answers.jsonl")
    fp = answers_fingerprint(session, spec, stage, settings)
    have = {r["id"] for r in store.read() if r.get("gen") == fp}
    return all(f"{q['question_id']}-{t}" in have for q in read_questions(settings["questions"]) for t in (1, 2))


def judge_spec(session: Session, settings: dict):
    """The registry's judge named by ``evaluation.mt_bench.judge`` (an unknown name lists the judges)."""
    return session.model(settings["judge"], role="judge")


def judge_stages(session: Session, spec, result, settings: dict, fingerprint: dict, progress: bool) -> None:
    """Judge every evaluated stage's answers, then store MT-Bench rows and items for each.

    The judge's batch, once halved after an out-of-memory error, stays halved for every later stage of the
    run (``result.batch_sizes``), and the rows' note says so, for the answers' batch too."""
    judge = Judge(session, judge_spec(session, settings))  # loaded at its first use, then kept for every stage
    judge_limit = result.batch_sizes.setdefault(JUDGE_BATCH, BatchLimit(scope="run"))
    questions = read_questions(settings["questions"])
    for stage in result.stages:
        folder = stage_dir(session, spec.slug, stage)
        answers_store = JsonlStore(folder / "answers.jsonl")
        answers = {r["id"]: r for r in answers_store.read()}
        if not all(f"{q['question_id']}-{t}" in answers for q in questions for t in (1, 2)):
            continue  # answers still missing: the stage's model run did not finish
        judged_with = judge_fingerprint(session, judge, settings, answers_fingerprint(session, spec, stage, settings))
        judgments = judge_answers(session, JsonlStore(folder / "judgments.jsonl"), questions, answers,
                                  judge=judge, settings=settings, fingerprint=judged_with, progress=progress,
                                  batch_limit=judge_limit)
        items = question_items(judgments, answers)
        unparsable = sum(j["rating"] is None and not j.get("non_finite") for j in judgments)
        retried = sum(j["attempts"] > 1 for j in judgments)
        note = (f"{len(questions)} questions x 2 turns; {unparsable} unparsable judgment(s), {retried} retried; "
                + generation_note(spec.id, stage, answers.values(), judge.id, judgments)
                + f"{settings['judge_prompts']} judge prompts; " + LABEL.format(judge=judge.id)
                + ", not comparable with GPT-4-judged MT-Bench" + (f"; {base_note(spec)}" if stage == "base" else "")
                + batch_note(result))
        metrics = [*get_benchmark("mt_bench").metrics, *(f"score_{c}" for c in CATEGORIES), "unparsable"]
        rows = metric_rows(model=spec.id, stage=stage, benchmark="mt_bench", items=items, metrics=metrics,
                           world=session.world_id, judge=judge.id, note=note, seed=session.seed)
        for row in rows:
            if row["metric"] == "unparsable":  # a count, not a mean
                row.update(value=float(unparsable), stderr=float("nan"), n=len(judgments))
        identity = adapter_finished_at(session, spec.slug, stage)
        store_results(session, slug=spec.slug, model=spec.id, stage=stage, benchmark="mt_bench", rows=rows,
                      items=[{**it, "adapter": identity} for it in items], fingerprint=fingerprint)
        result.ran.append((stage, "mt_bench"))
    judge.release()
    release_memory()


def batch_note(result) -> str:
    """The run's halved MT-Bench batches (answers, judge), as a note's closing clauses ("" when none was)."""
    limits = ((what, result.batch_sizes.get(key)) for what, key in (("answers", ANSWERS_BATCH), ("judge", JUDGE_BATCH)))
    return "".join(f"; {what}: {limit.note()}" for what, limit in limits if limit is not None and limit.note())


def generation_note(model: str, stage: str, answers, judge: str, judgments: list[dict]) -> str:
    """Prompts trimmed to the context window and NaN/inf generations (left out of the scores), if any."""
    answers = list(answers)
    parts = []
    for what, records, who in (("answer", answers, f"{model} ({stage})"), ("judge", judgments, judge)):
        trimmed = sum(bool(r.get("prompt_trimmed")) for r in records)
        if trimmed:
            parts.append(f"{trimmed} {what} prompt(s) longer than {who}'s context window trimmed (oldest turns first)")
    broken = sum(a.get("finish_reason") == "non_finite" for a in answers)
    left_out = sum(bool(j.get("non_finite")) for j in judgments)
    if left_out:
        parts.append(f"{left_out} judgment(s) left out for non-finite logits (NaN/inf): {broken} in answers of "
                     f"{model} ({stage}), {left_out - broken} in the judge")
    return "".join(p + "; " for p in parts)


def question_items(judgments: list[dict], answers: dict[str, dict]) -> list[dict]:
    """One item per question: ``score`` = its parsed turn ratings (a list), per-turn and per-category scores."""
    by_question: dict[int, list[dict]] = {}
    for j in judgments:
        by_question.setdefault(j["question_id"], []).append(j)
    items = []
    for qid, turns in sorted(by_question.items()):
        turns.sort(key=lambda j: j["turn"])
        ratings = [j["rating"] for j in turns if j["rating"] is not None]
        category = turns[0]["category"]
        scores = {"score": ratings,
                  "unparsable": float(sum(j["rating"] is None and not j.get("non_finite") for j in turns))}
        for j in turns:
            scores[f"score_turn{j['turn']}"] = j["rating"]
        scores[f"score_{category}"] = ratings
        items.append({"id": str(qid), "task": f"mt_bench:{category}", "scores": scores,
                      "output": answers.get(f"{qid}-1", {}).get("answer"),
                      "judgments": [j["judgment"] for j in turns]})
    return items
