"""``sit eval``: evaluate one target at some stages; ``sit eval compare``: the comparison of the workspace;
``sit compare-stages``: the held-out reward of every stage."""

from __future__ import annotations

from ..config import ConfigError


def register(subparsers) -> None:
    from ..cli import add_session_args

    parser = subparsers.add_parser(
        "eval", help="IFEval + MMLU (lm-eval) and MT-Bench (local judge) per model stage; comparison",
        description="`sit eval --model NAME [--stage base|sft|dpo] [--benchmarks ifeval,mmlu,mt_bench]` evaluates "
                    "one target model and updates evaluation/results.csv; `sit eval compare` builds the comparison "
                    "(deltas vs base with paired-bootstrap CIs) from every result in the workspace.")
    parser.add_argument("action", nargs="?", choices=["run", "compare"], default="run")
    add_session_args(parser)
    parser.add_argument("--model", default=None, help="target model: registry slug or hub id")
    parser.add_argument("--stage", action="append", default=None, metavar="STAGE",
                        help="base, sft or dpo (repeatable; default: every stage that exists)")
    parser.add_argument("--benchmarks", default=None, help="comma-separated, e.g. ifeval,mmlu,mt_bench "
                                                           "(default: the profile's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.set_defaults(func=main)

    parser = subparsers.add_parser("compare-stages", help="held-out answers of base/SFT/DPO scored by the reward "
                                   "model -> evaluation/stages.csv")
    add_session_args(parser)
    parser.add_argument("--model", action="append", default=None, help="target model (repeatable; default: every target with an SFT or DPO adapter)")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=compare_stages_main)


def main(args) -> int:
    from ..cli import session_from_args

    if args.action == "run" and not args.model:
        raise ConfigError("sit eval needs --model NAME (a target model), or the action `compare`")
    session = session_from_args(args)
    if args.action == "compare":
        from .compare import compare

        result = compare(session)
        if not args.quiet:
            for sentence in result.sentences:
                print(sentence)
            print(f"summary: {result.paths['summary']}")
        return 0
    from .results import results_path
    from .run import evaluate

    stages = None
    if args.stage:
        stages = [s for item in args.stage for s in item.split(",") if s]
    result = evaluate(session, args.model, stages=stages, benchmarks=args.benchmarks,
                      progress=False if args.quiet else None)
    if not args.quiet:
        for stage, why in result.skipped.items():
            print(f"skipped {stage}: {why}")
        for row in result.rows:
            print(f"{row['stage']:<5} {row['benchmark']:<9} {row['metric']:<26} {row['value']:.4f}  n={row['n']}")
        print(f"results: {results_path(session)}")
    return 0


def compare_stages_main(args) -> int:
    from ..cli import session_from_args
    from .report import stage_table
    from .stage_rewards import compare_stages

    session = session_from_args(args)
    rows = compare_stages(session, args.model, progress=not args.quiet)
    if not args.quiet:
        print(stage_table(rows).to_string(index=False))
    return 0
