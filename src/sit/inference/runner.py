"""A resumable generation stage: prompts in, one JSONL record per prompt out, checkpointed.

Used by every phase that generates: Magpie (instructions, then responses), the target models' answers, the judge.

* The batch plan is a pure function of all prompts (sorted by token length when bucketing, ties by
  id), so a resumed run rebuilds exactly the batches of an uninterrupted one and regenerates only
  batches that still miss an id. Items already stored are never generated or written again.
* Records are appended every ``checkpoint_every`` items (flushed + fsynced); a kill loses at most
  the items since the last checkpoint, and they come back identical.
* On an out-of-memory error the batch is halved and the smaller batch is kept for the rest of the
  stage (:class:`BatchLimit`); the batch that failed is generated again in smaller pieces, so no work
  is lost, and per-row seeds keep every item's text independent of the batch size.
* Prompts longer than the context window are trimmed by the engine
  (:mod:`sit.inference.window`); rows whose logits turned NaN/inf are marked ``non_finite``. Both
  are counted in :class:`StageStats` and summarized by :meth:`StageStats.note`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..progress import draws_bars
from ..store import JsonlStore
from .engine import Completion, Prompt, SamplingSettings, is_oom

if TYPE_CHECKING:
    from ..session import Session


@dataclass
class BatchLimit:
    """The largest batch that fits in memory, as learned so far in a stage.

    ``size`` is None until the first out-of-memory error; each error halves the batch that failed
    and the smaller size holds from then on (going back to the full batch would fail again). A limit
    shared by every stage of a run has ``scope="run"``, and its note says that the batch stayed small."""

    size: int | None = None
    halvings: list[tuple[int, int]] = field(default_factory=list)
    scope: str = ""

    def halve(self, failed: int) -> None:
        self.size = max(1, failed // 2)
        self.halvings.append((failed, self.size))

    def note(self) -> str:
        if not self.halvings:
            return ""
        errors = len(self.halvings)
        return (f"batch halved from {self.halvings[0][0]} to {self.size} after "
                f"{'an out-of-memory error' if errors == 1 else f'{errors} out-of-memory errors'}"
                + (f", kept for the rest of the {self.scope}" if self.scope else ""))


def session_batch_limit(session: Session, key: str) -> BatchLimit:
    """The batch of one generating step and model for the rest of this session's run.

    An out-of-memory error halves it, and every later stage, cell re-run or resume in the same session
    starts at the smaller batch: the full one would run out of memory again."""
    return session.batch_limits.setdefault(key, BatchLimit(scope="run"))


@dataclass
class StageStats:
    total: int
    already_done: int
    generated: int
    new_tokens: int
    seconds: float
    batch: BatchLimit = field(default_factory=BatchLimit)
    trimmed_prompts: int = 0  # prompts longer than the context window, trimmed before generation
    non_finite: int = 0  # rows whose logits turned NaN/inf (marked "non_finite", not the model's text)

    def count(self, completion: Completion) -> None:
        self.generated += 1
        self.new_tokens += completion.num_tokens
        self.trimmed_prompts += completion.prompt_trimmed
        self.non_finite += completion.finish_reason == "non_finite"

    def note(self) -> str:
        """What a results note should say about this stage's generation (empty when nothing happened)."""
        parts = [self.batch.note()]
        if self.trimmed_prompts:
            parts.append(f"{self.trimmed_prompts} prompt(s) longer than the context window trimmed")
        if self.non_finite:
            parts.append(f"{self.non_finite} generation(s) with non-finite logits (NaN/inf) left out")
        return "; ".join(p for p in parts if p)

    @property
    def items_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


def plan_batches(prompts: list[Prompt], batch_size: int, lengths: list[int] | None = None) -> list[list[Prompt]]:
    """Fixed-size batches; with ``lengths``, prompts of similar length share a batch (less padding)."""
    if batch_size <= 0:
        raise ValueError(f"batch size must be > 0, got {batch_size}")
    order = list(range(len(prompts)))
    if lengths is not None:
        order.sort(key=lambda i: (lengths[i], prompts[i].id))
    ordered = [prompts[i] for i in order]
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def generate_with_retry(backend, batch: list[Prompt], settings: SamplingSettings,
                        limit: BatchLimit | None = None) -> list[Completion]:
    """Generate a batch in pieces of at most ``limit.size``; an out-of-memory error halves ``limit``
    (down to single prompts) and the failed piece is generated again, smaller."""
    limit = limit if limit is not None else BatchLimit()
    out: list[Completion] = []
    while len(out) < len(batch):
        piece = batch[len(out):len(out) + (limit.size or len(batch))]
        try:
            out += backend.generate(piece, settings)
        except Exception as exc:  # noqa: BLE001 - only OOM is handled, everything else re-raised
            if not is_oom(exc) or len(piece) == 1:
                raise
            _empty_cuda_cache()
            limit.halve(len(piece))
            warnings.warn(f"out of memory at a batch of {len(piece)}: going on with {limit.size} for the rest "
                          f"of the {limit.scope or 'stage'} (no item is lost)", RuntimeWarning, stacklevel=2)
    return out


def _empty_cuda_cache() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_stage(store: JsonlStore, prompts: list[Prompt], backend, settings: SamplingSettings, *,
              make_record: Callable[[Prompt, Completion], dict], batch_size: int, checkpoint_every: int,
              bucket: bool = True, desc: str = "generating", progress: bool = True,
              batch_limit: BatchLimit | None = None) -> tuple[list[dict], StageStats]:
    """Generate what ``store`` still lacks; return all records in ``prompts`` order and the stats.

    Pass one ``batch_limit`` to several stages of the same model to keep a halved batch across them."""
    if checkpoint_every <= 0:
        raise ValueError(f"checkpoint interval must be > 0, got {checkpoint_every}")
    existing = {r["id"]: r for r in store.read()}
    wanted = {p.id for p in prompts}
    stats = StageStats(total=len(prompts), already_done=len(wanted & existing.keys()), generated=0,
                       new_tokens=0, seconds=0.0, batch=batch_limit if batch_limit is not None else BatchLimit())
    lengths = [backend.count_tokens(p.text) for p in prompts] if bucket else None
    batches = [b for b in plan_batches(prompts, batch_size, lengths) if any(p.id not in existing for p in b)]
    if batches:
        _run_batches(store, batches, backend, settings, make_record, checkpoint_every, existing, stats,
                     desc, progress)
    return [existing[p.id] for p in prompts], stats


def _run_batches(store, batches, backend, settings, make_record, checkpoint_every, existing, stats, desc,
                 progress) -> None:
    from tqdm.auto import tqdm

    ids = set(existing)
    buffer: list[dict] = []
    start = time.perf_counter()
    bar = tqdm(total=stats.total, initial=stats.already_done, desc=desc, unit="item", disable=not draws_bars(progress))
    try:
        for batch in batches:
            completions = generate_with_retry(backend, batch, settings, stats.batch)
            for prompt, completion in zip(batch, completions, strict=True):
                if prompt.id in ids:
                    continue  # stored before a restart; keep the stored copy
                record = make_record(prompt, completion)
                buffer.append(record)
                existing[prompt.id] = record
                stats.count(completion)
                bar.update(1)
            stats.seconds = time.perf_counter() - start
            bar.set_postfix(tok_s=f"{stats.tokens_per_second:.0f}", refresh=False)
            if len(buffer) >= checkpoint_every:
                pending, buffer = buffer, []
                store.append(pending, existing_ids=ids)
    finally:
        # Also on an interrupt (Colab's stop button): keep every finished item.
        pending, buffer = buffer, []
        store.append(pending, existing_ids=ids)
        bar.close()
        stats.seconds = time.perf_counter() - start
