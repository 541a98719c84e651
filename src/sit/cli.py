"""The ``sit`` command. Each phase adds its subcommands through a ``register(subparsers)`` function."""

from __future__ import annotations

import argparse
import importlib
import sys

from .config import ConfigError, parse_set_args

# Modules that contribute subcommands, in pipeline order.
PHASE_CLIS = [
    "sit.toy.cli",
    "sit.generation.cli",
    "sit.filtering.cli",
    "sit.preference.cli",
    "sit.training.cli",
    "sit.planning.cli",
    "sit.evaluation.cli",
    "sit.agent.cli",
    "sit.report.cli",
    "sit.publish.cli",
    "sit.pipeline.cli",
]


def add_session_args(parser: argparse.ArgumentParser) -> None:
    """Options every phase command shares."""
    parser.add_argument("--workspace", default=None, help="artifact root (default: repository root, Drive on Colab)")
    parser.add_argument("--profile", default="auto", help="demo | colab_t4 | auto (colab_t4 with a GPU, else demo)")
    parser.add_argument("--seed", type=int, default=None, help="one seed for everything (default: the profile's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set generation.batch_size=4 (repeatable)")


def session_from_args(args):
    from .session import start

    return start(profile=args.profile, workspace=args.workspace, seed=args.seed,
                 overrides=parse_set_args(args.set), verbose=not getattr(args, "quiet", False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sit", description="Synthetic Instruction Tuner")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in PHASE_CLIS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ConfigError, OSError, ValueError, RuntimeError) as exc:
        # Problems a user can fix: one clear line, no traceback.
        print(f"sit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
