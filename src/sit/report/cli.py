"""``sit report``: the technical report and the slides from the workspace's artifacts."""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import add_session_args
    from .build import FORMATS

    parser = subparsers.add_parser(
        "report", help="technical report (md, html, pdf) and slides (pptx) from the artifacts",
        description="Reads every artifact that exists (steps not run yet say so) and writes "
                    "evaluation/report.{md,html,pdf} and evaluation/slides.pptx. Loads no model.")
    add_session_args(parser)
    parser.add_argument("--format", action="append", choices=FORMATS, dest="formats",
                        help="only this format (repeatable; default: the profile's report.formats)")
    parser.add_argument("--update-readme", action="store_true",
                        help="also rewrite the results block of the checkout's README.md")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=main)


def main(args) -> int:
    from ..cli import session_from_args
    from .build import build_report

    session = session_from_args(args)
    build_report(session, args.formats, update_readme=args.update_readme, verbose=not args.quiet)
    return 0
