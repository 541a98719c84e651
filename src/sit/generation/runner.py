"""A resumable generation stage: prompts in, one JSONL record per prompt out, checkpointed.

Used by Magpie (instructions, then responses) and by the preference step (target models' answers).

* The batch plan is a pure function of all prompts (sorted by token length when bucketing, ties by
  id), so a resumed run rebuilds exactly the batches of an uninterrupted one and regenerates only
  batches that still miss an id. Items already stored are never generated or written again.
* Records are appended every ``checkpoint_every`` items (flushed + fsynced); a kill loses at most
  the items since the last checkpoint, and they come back identical.
* On CUDA out-of-memory a batch is split in halves and retried (no work is lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..store import JsonlStore
from .engine import Completion, Prompt, SamplingSettings, is_oom


@dataclass
class StageStats:
    total: int
    already_done: int
    generated: int
    new_tokens: int
    seconds: float
    oom_splits: int = 0

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
                        stats: StageStats | None = None) -> list[Completion]:
    """Generate a batch; on out-of-memory, halve it and retry each half (down to single prompts)."""
    try:
        return backend.generate(batch, settings)
    except Exception as exc:  # noqa: BLE001 - only OOM is handled, everything else re-raised
        if not is_oom(exc) or len(batch) == 1:
            raise
    _empty_cuda_cache()
    if stats is not None:
        stats.oom_splits += 1
    half = len(batch) // 2
    return (generate_with_retry(backend, batch[:half], settings, stats)
            + generate_with_retry(backend, batch[half:], settings, stats))


def _empty_cuda_cache() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_stage(store: JsonlStore, prompts: list[Prompt], backend, settings: SamplingSettings, *,
              make_record: Callable[[Prompt, Completion], dict], batch_size: int, checkpoint_every: int,
              bucket: bool = True, desc: str = "generating", progress: bool = True) -> tuple[list[dict], StageStats]:
    """Generate what ``store`` still lacks; return all records in ``prompts`` order and the stats."""
    if checkpoint_every <= 0:
        raise ValueError(f"checkpoint interval must be > 0, got {checkpoint_every}")
    existing = {r["id"]: r for r in store.read()}
    wanted = {p.id for p in prompts}
    stats = StageStats(total=len(prompts), already_done=len(wanted & existing.keys()), generated=0,
                       new_tokens=0, seconds=0.0)
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
    bar = tqdm(total=stats.total, initial=stats.already_done, desc=desc, unit="item", disable=not progress)
    try:
        for batch in batches:
            completions = generate_with_retry(backend, batch, settings, stats)
            for prompt, completion in zip(batch, completions, strict=True):
                if prompt.id in ids:
                    continue  # stored before a restart; keep the stored copy
                record = make_record(prompt, completion)
                buffer.append(record)
                existing[prompt.id] = record
                stats.generated += 1
                stats.new_tokens += completion.num_tokens
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
