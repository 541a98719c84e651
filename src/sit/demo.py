"""``make demo`` / ``sit demo``: run every notebook, in order, on the toy world with papermill.

A notebook whose parameters cell defines ``MODEL_NAME`` runs once per registered target model
(this is how one notebook serves all three models). Executed copies go to ``<workspace>/runs/``.
Re-running is cheap: every notebook resumes from its artifacts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import ConfigError, load_profile, load_registry
from .manifest import read_manifest
from .session import world_id
from .workspace import Workspace, find_repo_root


def demo_steps(notebook_dir: Path, targets: list[str]) -> list[tuple[Path, dict, str]]:
    """(notebook, extra parameters, output name) for every run, in pipeline order."""
    import papermill

    steps = []
    for notebook in sorted(notebook_dir.glob("0*.ipynb")):
        declared = papermill.inspect_notebook(str(notebook))
        if "MODEL_NAME" in declared:
            steps += [(notebook, {"MODEL_NAME": t}, f"{notebook.stem}-{t.split('/')[-1]}.ipynb") for t in targets]
        else:
            steps.append((notebook, {}, notebook.name))
    return steps


def run_demo(workspace: str | None = None, profile: str = "demo", only: str | None = None) -> Path:
    import papermill

    root = find_repo_root()
    if root is None:
        raise RuntimeError("run the demo from a checkout of the repository (notebooks/ not found)")
    ws = Workspace(workspace)
    check_world(ws, profile)
    targets = [s.id for s in load_registry().by_role("target")]
    steps = [s for s in demo_steps(root / "notebooks", targets) if only is None or only in s[0].name]
    print(f"demo: {len(steps)} notebook runs, profile '{profile}', workspace {ws.root}")
    for notebook, params, out_name in steps:
        out = ws.runs_dir / out_name
        started = time.perf_counter()
        print(f"  running {notebook.name} {params or ''}".rstrip(), flush=True)
        papermill.execute_notebook(
            str(notebook), str(out), parameters={"PROFILE": profile, "WORKSPACE": str(ws.root), **params},
            kernel_name="python3", cwd=str(notebook.parent), progress_bar=False,
        )
        print(f"    done in {time.perf_counter() - started:.0f}s -> {out}", flush=True)
    print(f"\nArtifacts: {ws.root / 'data'}, {ws.root / 'models'}, {ws.root / 'evaluation'}")
    print(f"Executed notebooks (with outputs, tables and charts): {ws.runs_dir}")
    return ws.runs_dir


def check_world(ws: Workspace, profile: str) -> None:
    """Refuse, before any notebook runs, a workspace whose raw data another world made (e.g. a toy world
    built by older code): the notebooks would refuse to add to it one by one."""
    manifest = read_manifest(ws.raw_dir) or {}
    made_with = (manifest.get("fingerprint") or {}).get("world")
    current = world_id(load_profile(profile))
    if made_with is not None and made_with != current:
        fresh = "`make clean-demo`" if ws.root == find_repo_root() else f"deleting {ws.root / 'data'}"
        raise ConfigError(f"{ws.root} holds artifacts made with another world ({made_with!r}, now {current!r}); "
                          f"the notebooks will not mix them with new ones. Start fresh with {fresh}, "
                          f"or pass --workspace DIR.")


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run every notebook on the toy world with papermill")
    _add_args(parser)
    parser.set_defaults(func=lambda args: run_demo(args.workspace, args.profile, args.only) and 0)


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", default=None, help="artifact root (default: the repository root)")
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--only", default=None, help="run only notebooks whose name contains this")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sit.demo", description=__doc__.splitlines()[0])
    _add_args(parser)
    args = parser.parse_args(argv)
    try:
        run_demo(args.workspace, args.profile, args.only)
    except ConfigError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
