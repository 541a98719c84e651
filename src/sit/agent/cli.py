"""``sit agent``: episodes of one agent on the shop; ``sit agent convert-webshop``: WebShop's files to a catalog."""

from __future__ import annotations

from ..config import ConfigError


def register(subparsers) -> None:
    from ..cli import add_session_args

    parser = subparsers.add_parser(
        "agent", help="WebShop-style agent evaluation (AgentBench protocol): LLM stages and baselines",
        description="`sit agent --agent llm --model NAME --stage dpo` plays the split's goals with one model stage "
                    "(the generator is the reference agent); `--agent rule|random` runs a baseline. "
                    "`sit agent convert-webshop --items F --attributes F [--human-goals F] --out catalog.json` "
                    "converts WebShop's published files to this project's catalog schema.")
    parser.add_argument("action", nargs="?", choices=["run", "convert-webshop"], default="run")
    add_session_args(parser)
    parser.add_argument("--agent", default="llm", help="llm | rule | random")
    parser.add_argument("--model", default=None, help="target model (slug or hub id) or the generator")
    parser.add_argument("--stage", default="dpo", help="base | sft | dpo, or reference (the generator, untuned)")
    parser.add_argument("--split", default=None, help="test | dev (default: the profile's)")
    parser.add_argument("--goals", type=int, default=None, help="play the split's first N goals")
    parser.add_argument("--items", default=None, help="WebShop items_shuffle*.json")
    parser.add_argument("--attributes", default=None, help="WebShop items_ins_v2*.json")
    parser.add_argument("--human-goals", default=None, help="WebShop items_human_ins.json")
    parser.add_argument("--out", default=None, help="where convert-webshop writes the catalog JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.set_defaults(func=main)


def main(args) -> int:
    if args.action == "convert-webshop":
        from .schema import save_catalog
        from .webshop_files import load_webshop

        if not (args.items and args.attributes and args.out):
            raise ConfigError("convert-webshop needs --items, --attributes and --out (and optionally --human-goals)")
        catalog = load_webshop(args.items, args.attributes, args.human_goals)
        path = save_catalog(catalog, args.out)
        print(f"{len(catalog.products)} products, {len(catalog.goals)} goals -> {path} "
              f"(use it with --set agent.catalog={path})")
        return 0
    from ..cli import session_from_args
    from .run import AGENTS, evaluate_agent

    if args.agent not in AGENTS:
        raise ConfigError(f"unknown agent '{args.agent}' (known: {', '.join(AGENTS)})")
    if args.agent == "llm" and not args.model:
        raise ConfigError("sit agent --agent llm needs --model NAME")
    session = session_from_args(args)
    run = evaluate_agent(session, args.agent, args.model, args.stage, progress=not args.quiet, split=args.split,
                   goals=args.goals)
    if not args.quiet:
        for metric, stats in run.summary.items():
            print(f"{metric:<20} {stats['value']:.3f}  [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]  n={stats['n']}")
        print(f"episodes in {run.path}")
    return 0
