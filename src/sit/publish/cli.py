"""``sit publish``: dataset and model repos with cards; a dry run unless a token and real artifacts are there."""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import add_session_args
    from .bundle import KEYS

    parser = subparsers.add_parser(
        "publish", help="Hub repos (datasets, adapters) with cards; dry run into publish/ by default",
        description="Writes the folders that would be pushed under <workspace>/publish/. With HF_TOKEN set and "
                    "artifacts of the real models it pushes them (private repos); toy-world artifacts are "
                    "never pushed.")
    add_session_args(parser)
    parser.add_argument("--namespace", default=None, help="Hub user or organisation (HUB_NAMESPACE)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", dest="dry_run", action="store_const", const=True, default=None,
                      help="only write the folders (the default without a token)")
    mode.add_argument("--push", dest="dry_run", action="store_const", const=False,
                      help="push (needs HF_TOKEN and artifacts of the real models)")
    parser.add_argument("--only", action="append", choices=KEYS, help="publish only this (repeatable)")
    parser.add_argument("--include-sft", action="store_true", default=None, help="also publish the SFT adapters")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=main)


def main(args) -> int:
    from ..cli import session_from_args
    from .pipeline import publish

    session = session_from_args(args)
    publish(session, namespace=args.namespace, dry_run=args.dry_run, only=args.only,
            include_sft=args.include_sft, verbose=not args.quiet)
    return 0
