"""``sit filter``: the quality-filtering phase from the command line.

    sit filter --input RAW.jsonl --output-dir DIR [--config FILE.yaml] [--target N] [--skip-invalid]
    sit filter --workspace DIR --profile demo

The file form starts from the spec defaults (or a profile's filtering: section with --profile);
the workspace form reads DIR/data/raw/magpie.jsonl and writes DIR/data/filtered/ with the
profile's settings. Then, in both: --config, --set filtering.KEY=VALUE (any filtering key),
--target.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..cli import add_session_args, session_from_args
from ..config import ConfigError, apply_overrides, load_profile, parse_set_args
from .config import config_reference, filter_config
from .pipeline import RAW_FILE, filter_file

SET_PREFIX = "filtering."
DEFAULT_SEED = 42


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "filter", help="quality-filter raw instruction/response pairs",
        description="Quality-filter raw instruction/response pairs (phase 2): rule filters, language, "
                    "near-duplicates, then select the target count.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join([*__doc__.split("\n\n")[1:], "filtering settings (key = default):", config_reference()]))
    parser.add_argument("--input", help="raw JSONL file (file form; needs --output-dir)")
    parser.add_argument("--output-dir", help="where filtered.jsonl, rejected.jsonl, report.json go (file form)")
    parser.add_argument("--config", help="YAML file of filtering settings (plain keys, or under 'filtering:')")
    parser.add_argument("--target", type=int, help="number of examples to keep (overrides the config)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip and count invalid input lines instead of stopping at the first")
    add_session_args(parser)
    parser.set_defaults(func=run, profile=None)


def run(args: argparse.Namespace) -> int:
    overrides = parse_set_args(args.set)
    filter_sets = {key: value for key, value in overrides.items() if key.startswith(SET_PREFIX)}
    if args.input or args.output_dir:
        input_path, output_dir, section, seed, profile = _file_form(args, overrides, filter_sets)
    else:
        input_path, output_dir, section, seed, profile = _workspace_form(args, overrides, filter_sets)
    config = filter_config(section, read_config_file(args.config) if args.config else None)
    config = apply_overrides({"filtering": config}, filter_sets, where="--set")["filtering"]
    config = filter_config(config, {"target": args.target} if args.target is not None else None)
    result = filter_file(input_path, output_dir, config, seed=seed, skip_invalid=args.skip_invalid, profile=profile)
    _print_summary(result.report, Path(output_dir))
    return 0


def _file_form(args, overrides: dict, filter_sets: dict):
    if not (args.input and args.output_dir):
        raise ConfigError("the file form needs both --input and --output-dir")
    if args.workspace:
        raise ConfigError("use either --input/--output-dir or --workspace, not both")
    others = {key: value for key, value in overrides.items() if key not in filter_sets}
    profile = load_profile(args.profile, others) if args.profile else None
    section = profile["filtering"] if profile else None
    seed = args.seed if args.seed is not None else (profile or {}).get("seed", DEFAULT_SEED)
    return Path(args.input), Path(args.output_dir), section, seed, profile["name"] if profile else "custom"


def _workspace_form(args, overrides: dict, filter_sets: dict):
    args.profile = args.profile or "auto"
    args.set = [f"{key}={value}" for key, value in overrides.items() if key not in filter_sets]
    session = session_from_args(args)
    input_path = session.workspace.raw_dir / RAW_FILE
    if not input_path.is_file():
        raise FileNotFoundError(f"no raw data at {input_path}: run notebook 01 (generation) first, "
                                "or pass --input and --output-dir")
    return input_path, session.workspace.filtered_dir, session.section("filtering"), session.seed, session.profile_name


def read_config_file(path: str | Path) -> dict:
    """Filtering settings from a YAML file: a mapping of keys, or one with a ``filtering:`` section."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("filtering"), dict):
        data = data["filtering"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of filtering settings")
    return data


def _print_summary(report: dict, output_dir: Path) -> None:
    from .tables import report_table  # pandas: loaded only when the command runs

    print(report_table(report).drop(columns=["what"]).to_string(index=False))
    if report["invalid_lines_skipped"]:
        print(f"skipped {report['invalid_lines_skipped']} invalid input line(s); see report.json")
    print(f"{report['input']} in, {report['output']} kept -> {output_dir}")
