"""Notebook hygiene, checked in CI (Colab's UI cannot add cell tags, so a missing tag must be caught here).

Every notebook: valid JSON, named ``0N_<name>.ipynb``, committed without outputs, exactly one cell
tagged ``parameters`` (papermill), a first markdown cell with its own "Open in Colab" badge, and a
setup cell that installs from the one repository URL. The README shows both commands and every badge.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .project import colab_url, repository_url
from .workspace import find_repo_root

NAME = re.compile(r"^0\d_[a-z0-9_]+\.ipynb$")


def check_notebook(path: Path, root: Path) -> list[str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return [f"{path}: not valid JSON ({exc})"]
    problems = []
    if not NAME.match(path.name):
        problems.append(f"{path}: name must look like 0N_<name>.ipynb")
    cells = nb.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    if any(c.get("outputs") or c.get("execution_count") is not None for c in code):
        problems.append(f"{path}: committed with outputs or execution counts (run nbstripout)")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{path}: {len(tagged)} cells tagged 'parameters' (papermill needs exactly one)")
    first = "".join(cells[0].get("source", "")) if cells else ""
    if not cells or cells[0].get("cell_type") != "markdown" or colab_url(root, path.name) not in first:
        problems.append(f"{path}: first cell must be markdown with the badge {colab_url(root, path.name)}")
    if not any(repository_url(root) in "".join(c.get("source", "")) for c in code):
        problems.append(f"{path}: no setup cell installing from {repository_url(root)}")
    return problems


def check_readme(root: Path, notebooks: list[Path]) -> list[str]:
    readme = root / "README.md"
    if not readme.exists():
        return ["README.md is missing"]
    text = readme.read_text(encoding="utf-8")
    problems = [f"README.md does not show `{cmd}`" for cmd in ("make demo", "make test") if cmd not in text]
    problems += [f"README.md has no Colab badge for {nb.name}" for nb in notebooks
                 if colab_url(root, nb.name) not in text]
    return problems


def check(root: Path) -> list[str]:
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    problems = [p for nb in notebooks for p in check_notebook(nb, root)]
    return problems + check_readme(root, notebooks)


def main() -> int:
    root = find_repo_root() or Path.cwd()
    problems = check(root)
    for line in problems:
        print(line, file=sys.stderr)
    count = len(list((root / "notebooks").glob("*.ipynb")))
    print(f"hygiene: {count} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
