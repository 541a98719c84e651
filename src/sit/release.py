"""The release step: tag ``v<version>`` (from ``pyproject.toml``) and push it, so that the notebooks' setup cell
and Colab badges, which name that tag, find it. ``make release`` runs it; ``python -m sit.release --root DIR
[--remote NAME] [--no-push]`` is the same.

It refuses, with what to do, when the notebooks do not carry this version (run ``python -m sit.hygiene --fix``),
when the checkout has uncommitted changes (the tag would not hold them), or when the tag already exists (bump
``version`` first): a release tag never moves.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .hygiene import check
from .project import release_ref
from .workspace import find_repo_root


class ReleaseError(RuntimeError):
    pass


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def release(root: Path, *, remote: str = "origin", push: bool = True) -> str:
    """Tag HEAD ``v<version>`` (annotated) and push the tag to ``remote``; returns the tag."""
    tag = release_ref(root)
    if (root / "notebooks").is_dir():
        stale = [p for p in check(root) if "setup cell" in p or "badge" in p]
        if stale:
            raise ReleaseError(f"the notebooks do not carry {tag} yet ({stale[0]}); run python -m sit.hygiene --fix "
                               "and commit")
    if _git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise ReleaseError(f"{root} has uncommitted changes; commit them first, the tag {tag} would not hold them")
    if _git(root, "rev-parse", "-q", "--verify", f"refs/tags/{tag}").returncode == 0:
        raise ReleaseError(f"the tag {tag} already exists; bump version in pyproject.toml for a new release")
    made = _git(root, "tag", "-a", tag, "-m", f"Release {tag}")
    if made.returncode:
        raise ReleaseError(f"git tag {tag} failed: {made.stderr.strip()}")
    if push:
        pushed = _git(root, "push", remote, f"refs/tags/{tag}")
        if pushed.returncode:
            raise ReleaseError(f"the tag {tag} was made here but not pushed to {remote}: {pushed.stderr.strip()} "
                               f"(push it with: git push {remote} {tag})")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sit.release", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="the checkout (default: the one this code runs from)")
    parser.add_argument("--remote", default="origin")
    parser.add_argument("--no-push", action="store_true", help="make the tag here only")
    args = parser.parse_args(argv)
    root = (args.root or find_repo_root() or Path.cwd()).resolve()
    try:
        tag = release(root, remote=args.remote, push=not args.no_push)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(f"tagged {tag}" + ("" if args.no_push else f" and pushed it to {args.remote}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
