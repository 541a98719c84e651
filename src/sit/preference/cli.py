"""``sit preference``: one target model's answers and scores, then pairs; ``sit preference pairs``: pairs only."""

from __future__ import annotations

from ..config import ConfigError


def register(subparsers) -> None:
    from ..cli import add_session_args

    parser = subparsers.add_parser(
        "preference", help="answers from a target model, reward scores, chosen/rejected pairs",
        description="`sit preference --model NAME` answers every filtered instruction with one target model, "
                    "scores the answers and rebuilds the pairs when two models are ready; "
                    "`sit preference pairs` only rebuilds the pairs from what exists.")
    parser.add_argument("action", nargs="?", choices=["run", "pairs"], default="run",
                        help="run (default): answers + scores + pairs for --model; pairs: rebuild pairs only")
    add_session_args(parser)
    parser.add_argument("--model", default=None, help="target model: registry slug or hub id")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.set_defaults(func=main)


def main(args) -> int:
    from ..cli import session_from_args
    from .pipeline import build_pairs, run

    if args.action == "run" and not args.model:
        raise ConfigError("sit preference needs --model NAME (a target model), or the action `pairs`")
    session = session_from_args(args)
    if args.action == "pairs":
        build_pairs(session, verbose=not args.quiet)  # prints the pairs written, or what is missing
    else:
        run(session, args.model, progress=not args.quiet)
        if not args.quiet:
            print(f"answers and scores in {session.workspace.responses_dir}")
    return 0
