"""``sit run-all``: the whole pipeline, notebook by notebook, in one command."""

from __future__ import annotations

import argparse

from ..config import parse_set_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run-all", help="run every notebook in order with papermill, skipping finished steps",
        description="Run notebooks 01 -> 07 with papermill (per-model notebooks once per target), skipping "
                    "steps whose artifacts are complete for the same world and settings.")
    parser.add_argument("--profile", default="demo", help="demo (toy world, CPU) | colab_t4 | auto")
    parser.add_argument("--workspace", default=None, help="artifact root (default: repository root, Drive on Colab)")
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help="only these target models (slug or hub id) for per-model notebooks")
    parser.add_argument("--from", dest="start", default=None, metavar="NN", help="first notebook number, e.g. 03")
    parser.add_argument("--to", dest="stop", default=None, metavar="NN", help="last notebook number, e.g. 06")
    parser.add_argument("--rerun-stale", action="store_true",
                        help="move stale artifacts aside (to <workspace>/stale/) and rerun those steps and "
                             "everything downstream")
    parser.add_argument("--seed", type=int, default=None, help="one seed for everything (default: the profile's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value in every notebook, e.g. --set filtering.target=60")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .runall import run_all

    run_all(args.profile, args.workspace, models=args.models, start=args.start, stop=args.stop,
            rerun_stale=args.rerun_stale, overrides=parse_set_args(args.set), seed=args.seed)
    return 0
