"""Did training help? Every stage answers the held-out instructions; the reward model scores the answers.

Each stage (``base``, ``sft``, ``dpo``) answers the same held-out instructions (never trained on),
greedily, through the resumable generation runner: the trained stages through the chat template, base in its
completion format and stopped at phase 03's stop set, as in every benchmark
(:mod:`sit.preference.base_prompting`; the row's note says so). Answers are
stored in ``evaluation/stages/<slug>-<stage>.jsonl`` and a killed run resumes. The reward model then
scores them. The table gives per model and stage the mean reward with a 95 % bootstrap CI (answers
resampled, fixed seed), the share of answers that ended with the end-of-turn token, and the change from
the stage before (SFT vs base, DPO vs SFT) with a 95 % CI from a paired bootstrap over the same
instructions: with 16 answers per stage two overlapping CIs say little, a paired difference says more.
It is written to ``evaluation/stages.csv`` for notebook 06 and the report; each answer's score goes to
``evaluation/items/<slug>/<stage>/reward.jsonl``, which notebook 06 pairs against base like any benchmark.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..inference.engine import Completion, HFBackend, Prompt, SamplingSettings
from ..inference.runner import StageStats, run_stage, session_batch_limit
from ..models import load_reward_model, load_tokenizer, release_memory
from ..preference.base_prompting import base_note, base_prompting, base_stops, completion_template
from ..preference.scoring import reward_scores, reward_spec
from ..runtime import derive_seed
from ..stages import load_stage, require_stage
from ..store import JsonlStore, read_json, read_jsonl, write_jsonl_atomic, write_text_atomic
from ..training.data import data_digest, heldout_ids, read_filtered
from ..workspace import STAGES
from .bootstrap import stage_change
from .results import items_path

if TYPE_CHECKING:
    from ..session import Session

# vs_mean/stage_mean: the two means the delta is the difference of, over the paired_n answers both stages have
COLUMNS = ("model", "stage", "mean_reward", "ci_low", "ci_high", "stopped_share", "n", "world", "vs", "delta",
           "delta_low", "delta_high", "vs_mean", "stage_mean", "paired_n", "dropped", "note")
ITEMS_BENCHMARK = "reward"  # the benchmark name of the per-answer scores in notebook 06's item layout
BOOTSTRAP = 2000


@dataclass
class StageAnswers:
    model: str
    stage: str
    records: list[dict]
    note: str = ""  # what happened while generating (a halved batch, trimmed prompts, NaN/inf); "" if nothing


def answers_path(session: Session, slug: str, stage: str) -> Path:
    return session.workspace.stage_answers_file(slug, stage)


def stage_answers(session: Session, model_name: str, stage: str, *, max_new_tokens: int | None = None,
                  batch_size: int | None = None, progress: bool = True) -> StageAnswers:
    """One stage's greedy answers to the held-out instructions (resumes; stored answers are kept).

    Lengths and batch default to the profile's ``preference`` answering settings (the base models'
    answers in notebook 03 were made with the same). A batch halved after an out-of-memory error stays halved
    for the model's later stages in the session (:meth:`sit.session.Session.batch_limit`)."""
    answering = session.section("preference")
    max_new_tokens = max_new_tokens or answering["max_new_tokens_response"]
    batch_size = batch_size or answering["batch_size"]
    spec = session.model(model_name, role="target")
    folder = require_stage(session, model_name, stage)
    adapter = read_json(folder / "manifest.json").get("fingerprint") if folder else None
    held = set(heldout_ids(session))
    items = [r for r in read_filtered(session) if r["id"] in held]
    path = answers_path(session, spec.slug, stage)
    gen = {"model": spec.id, "stage": stage, "world": session.world_id, "seed": session.seed,
           "max_new_tokens": max_new_tokens, "adapter": data_digest([{"a": adapter}], ("a",))}
    if stage == "base":  # answers made before base was asked in its completion format are made again
        gen["prompting"] = base_prompting(spec)
    store = JsonlStore(path)
    stored = store.read()
    if any(r.get("gen") != gen for r in stored):
        # the stage was retrained (or settings changed): these answers describe another model
        path.unlink()
        store = JsonlStore(path)
        stored = []
    done = {r["id"] for r in stored}
    if all(r["id"] in done for r in items):
        return StageAnswers(spec.id, stage, stored)
    records, stats = _generate(session, spec, stage, items, store, gen, max_new_tokens, batch_size, progress,
                               session_batch_limit(session, f"held-out answers {spec.slug}"))
    release_memory()
    return StageAnswers(spec.id, stage, records, stats.note())


def _generate(session: Session, spec, stage, items, store, gen, max_new_tokens, batch_size, progress,
              batch_limit) -> tuple[list[dict], StageStats]:
    """Load the stage and run the resumable stage; every reference to the model dies with this frame."""
    model, tokenizer = load_stage(session, spec.id, stage)
    eot = tokenizer.convert_tokens_to_ids(spec.eot_token)
    if stage == "base":
        tokenizer.chat_template = completion_template(spec) or tokenizer.chat_template
        stops, strings = base_stops(spec, tokenizer)
    else:
        stops, strings = tuple(dict.fromkeys(i for i in (eot, tokenizer.eos_token_id) if i is not None)), ()
    settings = SamplingSettings(max_new_tokens=max_new_tokens, stop_token_ids=stops, stop_strings=strings)
    prompts = [Prompt(id=r["id"], seed=derive_seed(session.seed, "stages", spec.slug, stage, r["id"]),
                      text=tokenizer.apply_chat_template([{"role": "user", "content": r["instruction"]}],
                                                         tokenize=False, add_generation_prompt=True))
               for r in items]
    by_id = {r["id"]: r for r in items}
    backend = _EndOfTurn(HFBackend(model, tokenizer, label=f"{spec.id} ({stage})"), eot)

    def record(prompt: Prompt, completion: Completion) -> dict:
        return {"id": prompt.id, "instruction": by_id[prompt.id]["instruction"], "response": completion.text,
                "finish_reason": completion.finish_reason, "ended_with_eot": backend.pop(prompt.id),
                "response_tokens": completion.num_tokens, "gen": gen}

    return run_stage(store, prompts, backend, settings, make_record=record, batch_size=batch_size,
                     checkpoint_every=batch_size, desc=f"{spec.slug} {stage}", progress=progress,
                     batch_limit=batch_limit)


class _EndOfTurn:
    """The generation backend, also noting whether each answer's last token was the end-of-turn token."""

    def __init__(self, backend, eot_id: int):
        self.backend, self.eot_id, self.ended = backend, eot_id, {}

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def generate(self, prompts, settings):
        completions = self.backend.generate(prompts, settings)
        for prompt, completion in zip(prompts, completions, strict=True):
            self.ended[prompt.id] = completion.stop_token_id == self.eot_id
        return completions

    def pop(self, item_id: str) -> bool:
        return self.ended.pop(item_id)


def bootstrap_ci(values: list[float], seed: int, *, resamples: int = BOOTSTRAP) -> tuple[float, float]:
    """95 % percentile interval of the mean, answers resampled with replacement."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def score_answers(session: Session, answers: list[StageAnswers]) -> list[dict]:
    """Reward scores for every answer (kept per item); one table row per model and stage."""
    spec = reward_spec(session)
    cfg = session.section("preference")
    tokenizer = load_tokenizer(spec, session.profile, padding_side="right")
    model = load_reward_model(spec, session.profile)
    rows, scored = [], {}
    for entry in answers:
        pairs = [(r["instruction"], r["response"]) for r in entry.records]
        every = reward_scores(model, tokenizer, pairs, batch_size=cfg["reward_batch_size"],
                              max_length=cfg["reward_max_length"])
        note = _non_finite_note(spec.id, entry, every)
        scored[(entry.model, entry.stage)] = {r["id"]: s for r, s in zip(entry.records, every, strict=True)
                                              if math.isfinite(s)}
        scores = list(scored[(entry.model, entry.stage)].values())
        low, high = bootstrap_ci(scores, derive_seed(session.seed, "stages-ci", entry.model, entry.stage))
        rows.append({"model": entry.model, "stage": entry.stage,
                     "mean_reward": sum(scores) / len(scores) if scores else float("nan"),
                     "ci_low": low, "ci_high": high,
                     "stopped_share": sum(bool(r["ended_with_eot"]) for r in entry.records) / len(entry.records),
                     "n": len(scores), "world": session.world_id,
                     "note": "; ".join(p for p in (answers_note(session, entry), note) if p)})
    del model
    release_memory()
    for row in rows:
        row.update(_change(session, scored, row["model"], row["stage"]))
    _write_items(session, spec.id, answers, scored)
    return rows


def _non_finite_note(reward_model: str, entry: StageAnswers, scores: list[float]) -> str:
    """Warn about answers the reward model scored NaN/inf (they are left out); what the row's note says."""
    broken = sum(not math.isfinite(s) for s in scores)
    if not broken:
        return ""
    warnings.warn(f"{entry.model} {entry.stage}: the reward model {reward_model} returned a non-finite score "
                  f"(NaN/inf) for {broken} of {len(scores)} held-out answers (an fp16 overflow?); they are left out "
                  "of the mean and of the paired change", stacklevel=3)
    return f"{broken} of {len(scores)} answers scored NaN/inf by the reward model, left out"


def answers_note(session: Session, entry: StageAnswers) -> str:
    """How the stage was asked and stopped (base: its completion format), for the row's note."""
    spec = session.registry.get(entry.model)
    asked = base_note(spec) if entry.stage == "base" else "asked through the adapter's chat template"
    return "; ".join(p for p in (asked, entry.note) if p)


def _change(session: Session, scored: dict, model: str, stage: str) -> dict:
    """The paired difference from the stage before, on the instructions both answered."""
    from .run import evaluation_settings

    earlier = [s for s in STAGES[:STAGES.index(stage)] if (model, s) in scored]
    if not earlier:
        return {"vs": "", "delta": "", "delta_low": "", "delta_high": "", "vs_mean": "", "stage_mean": "",
                "paired_n": "", "dropped": ""}
    before = earlier[-1]
    if not set(scored[(model, before)]) & set(scored[(model, stage)]):  # every answer of one scored NaN/inf
        return {"vs": before, "delta": "", "delta_low": "", "delta_high": "", "vs_mean": "", "stage_mean": "",
                "paired_n": 0, "dropped": ""}
    cfg = evaluation_settings(session)  # the same resamples as notebook 06's comparison.csv
    delta = stage_change(session.seed, scored[(model, before)], scored[(model, stage)], model=model, stage=stage,
                         vs=before, benchmark=ITEMS_BENCHMARK, metric="mean_reward",
                         samples=cfg["bootstrap_samples"], confidence=float(cfg["confidence"]))
    return {"vs": before, "delta": delta.delta, "delta_low": delta.low, "delta_high": delta.high,
            "vs_mean": delta.base_mean, "stage_mean": delta.other_mean, "paired_n": delta.n,
            "dropped": delta.dropped}


def _write_items(session: Session, reward_model: str, answers: list[StageAnswers], scored: dict) -> None:
    """Per-answer scores in notebook 06's item layout; the fingerprint says what makes two stages comparable."""
    fingerprint = {"reward_model": reward_model, "world": session.world_id,
                   "heldout": data_digest([{"ids": sorted(heldout_ids(session))}], ("ids",))}
    for entry in answers:
        items = [{"id": r["id"], "scores": {"mean_reward": scored[(entry.model, entry.stage)][r["id"]]},
                  "fingerprint": {**fingerprint, "max_new_tokens": r["gen"]["max_new_tokens"]},
                  "prompting": r["gen"].get("prompting")}
                 for r in entry.records if r["id"] in scored[(entry.model, entry.stage)]]
        write_jsonl_atomic(items_path(session, session.registry.get(entry.model).slug, entry.stage,
                                      ITEMS_BENCHMARK), items)


def compare_stages(session: Session, models: list[str] | None = None, *, max_new_tokens: int | None = None,
                   batch_size: int | None = None, progress: bool = True) -> list[dict]:
    """Answer, score and tabulate every finished stage of ``models``; writes stages.csv.

    By default the models are the targets trained so far (with an SFT or DPO adapter): a target never trained
    has nothing to compare, and answering with its base would download it (7B on Colab) for nothing."""
    if not heldout_ids(session):
        warnings.warn("training.heldout is 0: no instruction was kept out of SFT and DPO, so there is nothing to "
                      "compare the stages on (set training.heldout, e.g. 50, and train again)", stacklevel=2)
        write_stages_csv(session.workspace.stages_table, [])
        return []
    names = models or trained_targets(session)
    answers = []
    for name in names:
        for stage in STAGES:
            try:
                require_stage(session, name, stage)
            except FileNotFoundError:
                continue  # not trained yet: the table shows what exists
            answers.append(stage_answers(session, name, stage, max_new_tokens=max_new_tokens,
                                         batch_size=batch_size, progress=progress))
    rows = score_answers(session, answers) if answers else []
    write_stages_csv(session.workspace.stages_table, rows)
    return rows


def trained_targets(session: Session) -> list[str]:
    """The targets that have a finished SFT or DPO adapter in this workspace, in registry order."""
    trained = []
    for spec in session.registry.by_role("target"):
        for stage in STAGES[1:]:
            try:
                require_stage(session, spec.id, stage)
            except FileNotFoundError:
                continue
            trained.append(spec.id)
            break
    return trained


def write_stages_csv(path: Path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def stage_answer_records(session: Session, slug: str, stage: str) -> list[dict]:
    path = answers_path(session, slug, stage)
    return read_jsonl(path) if path.exists() else []
