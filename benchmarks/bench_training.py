"""SFT throughput: length-grouped batches (the project's setting) vs TRL's default random batches.

Both runs train the same toy target on the same Magpie-like conversations (short and long answers
mixed, as the raw generator output is) for the same number of steps, in this process, one after the
other. Printed: non-pad tokens per second, the padding share of every batch, and the ratio.

    python benchmarks/bench_training.py [--conversations 192] [--epochs 1] [--batch 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sit.session import start
from sit.store import write_jsonl_atomic
from sit.toy.corpus import make_corpus
from sit.training import train_sft

MODEL = "meta-llama/Llama-3.2-3B"


def write_data(workspace: Path, n: int, seed: int) -> None:
    """Raw-generator-like pairs: every kind of the toy corpus, so answer lengths spread as Magpie's do."""
    corpus = make_corpus(seed=seed, n=n)
    records = [{"id": f"magpie-{k:05d}", "instruction": c["instruction"], "response": c["response"]}
               for k, c in enumerate(corpus)]
    write_jsonl_atomic(workspace / "data/filtered/filtered.jsonl", records)


def run(grouped: bool, n: int, epochs: int, batch: int, seed: int) -> dict:
    counts = {"real": 0, "padded": 0}

    def count_tokens(trainer):
        def hook(_module, _args, kwargs):
            mask = kwargs["attention_mask"]
            counts["real"] += int(mask.sum())
            counts["padded"] += mask.numel()
        trainer.model.register_forward_pre_hook(hook, with_kwargs=True)

    with tempfile.TemporaryDirectory() as folder:
        write_data(Path(folder), n, seed)
        session = start("demo", folder, seed, {"training.heldout": 0, "training.group_by_length": grouped,
                                               "training.sft.epochs": epochs, "training.sft.batch_size": batch,
                                               "training.save_steps": 10_000, "training.sft.max_length": 512},
                        verbose=False)
        began = time.perf_counter()
        result = train_sft(session, MODEL, progress=False, trainer_hook=count_tokens)
        seconds = time.perf_counter() - began
    return {"steps": result.summary["global_steps"], "seconds": seconds, "real": counts["real"],
            "pad_share": 1 - counts["real"] / counts["padded"],
            "tokens_per_s": counts["real"] / result.summary["train_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    grouped = run(True, args.conversations, args.epochs, args.batch, args.seed)
    shuffled = run(False, args.conversations, args.epochs, args.batch, args.seed)
    for name, r in (("length-grouped", grouped), ("random (TRL default)", shuffled)):
        print(f"{name:<22} {r['steps']:>4} steps  {r['real']:>7} non-pad tokens  padding {r['pad_share']:6.1%}  "
              f"{r['tokens_per_s']:8.0f} non-pad tokens/s")
    print(f"ratio (grouped / random): {grouped['tokens_per_s'] / shuffled['tokens_per_s']:.2f}x non-pad tokens/s")


if __name__ == "__main__":
    main()
