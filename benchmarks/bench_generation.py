"""Generation throughput: the project's batched, length-bucketed generator vs a one-prompt-at-a-time loop.

Both run greedily on the toy generator with the same chat-templated prompts and max new tokens, in one
process. Prints tokens/s of each, the ratio (target: >= 4x), and how many outputs agree.

    .venv/bin/python benchmarks/bench_generation.py [--prompts 64] [--max-new-tokens 96] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from sit.generation.magpie import response_prompt
from sit.inference.engine import HFBackend, Prompt, SamplingSettings
from sit.inference.runner import run_stage
from sit.models import load_causal_lm, load_tokenizer, stop_token_ids
from sit.session import start
from sit.store import JsonlStore
from sit.toy.corpus import make_corpus


def one_at_a_time(model, tokenizer, prompts: list[Prompt], settings: SamplingSettings) -> tuple[list[str], int]:
    """The baseline: a plain `generate` call per prompt, no padding, no batching."""
    texts, tokens = [], 0
    for prompt in prompts:
        ids = tokenizer(prompt.text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=settings.max_new_tokens, do_sample=False,
                                 eos_token_id=list(settings.stop_token_ids), pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        cut = next((i for i, t in enumerate(new) if t in settings.stop_token_ids), len(new))
        tokens += cut
        texts.append(tokenizer.decode(new[:cut], skip_special_tokens=True).strip())
    return texts, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    session = start("demo", tempfile.mkdtemp(prefix="bench-gen-"), verbose=False)
    spec = session.registry.by_role("generator")[0]
    tokenizer = load_tokenizer(spec, session.profile)
    model = load_causal_lm(spec, session.profile)
    settings = SamplingSettings(max_new_tokens=args.max_new_tokens, stop_token_ids=tuple(stop_token_ids(spec, tokenizer)))
    items = make_corpus(seed=session.seed, n=args.prompts)
    prompts = [Prompt(f"b{i:04d}", response_prompt(tokenizer, item["instruction"]), i) for i, item in enumerate(items)]
    lengths = [len(tokenizer(p.text, add_special_tokens=False)["input_ids"]) for p in prompts]
    print(f"toy generator {spec.slug}: {args.prompts} prompts ({min(lengths)}-{max(lengths)} tokens), "
          f"max_new_tokens={args.max_new_tokens}, torch threads={torch.get_num_threads()}")

    one_at_a_time(model, tokenizer, prompts[:2], settings)  # warm-up
    started = time.perf_counter()
    base_texts, base_tokens = one_at_a_time(model, tokenizer, prompts, settings)
    base_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        records, stats = run_stage(
            JsonlStore(Path(tmp) / "out.jsonl"), prompts, HFBackend(model, tokenizer), settings,
            make_record=lambda p, c: {"id": p.id, "text": c.text, "tokens": c.num_tokens},
            batch_size=args.batch_size, checkpoint_every=args.batch_size, bucket=True, progress=False)
    batched_tokens = sum(r["tokens"] for r in records)
    same = sum(r["text"] == t for r, t in zip(records, base_texts, strict=True))

    base_rate, batched_rate = base_tokens / base_seconds, batched_tokens / stats.seconds
    print(f"one-at-a-time : {base_tokens:6d} tokens in {base_seconds:6.2f}s = {base_rate:8.1f} tokens/s")
    print(f"batched+bucket: {batched_tokens:6d} tokens in {stats.seconds:6.2f}s = {batched_rate:8.1f} tokens/s "
          f"(batch {args.batch_size})")
    print(f"speed-up: {batched_rate / base_rate:.1f}x (target >= 4x); identical outputs: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
