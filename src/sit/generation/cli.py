"""``sit generate``: Magpie instructions + responses into <workspace>/data/raw/magpie.jsonl (resumes)."""

from __future__ import annotations

from .magpie import BACKENDS, generate


def register(subparsers) -> None:
    from ..cli import add_session_args

    parser = subparsers.add_parser("generate", help="Magpie: instructions from the pre-query template, then answers")
    add_session_args(parser)
    parser.add_argument("--generator", default=None, help="registry slug or hub id (default: the registered generator)")
    parser.add_argument("--num-instructions", type=int, default=None, help="N (default: the profile's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..cli import session_from_args

    session = session_from_args(args)
    result = generate(session, generator=args.generator, backend=args.backend, progress=not args.quiet,
                      num_instructions=args.num_instructions, batch_size=args.batch_size,
                      checkpoint_every=args.checkpoint_every)
    if not args.quiet:
        print(f"wrote {result.path}: {result.counts}")
        for name, stats in (("instructions", result.instruction_stats), ("responses", result.response_stats)):
            if stats is not None and stats.generated:
                print(f"  {name}: {stats.generated} generated in {stats.seconds:.1f}s "
                      f"({stats.items_per_second:.1f} items/s, {stats.tokens_per_second:.0f} tokens/s)")
    return 0
