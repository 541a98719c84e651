"""Notebook hygiene, checked in CI (Colab's UI cannot add cell tags, so a missing tag must be caught here).

Every notebook: valid JSON, named ``0N_<name>.ipynb``, committed without outputs, exactly one cell
tagged ``parameters`` (papermill), a first markdown cell with its own "Open in Colab" badge, and the
setup cell of :mod:`sit.project`, byte for byte. The README shows both commands and every badge.
``--fix`` rewrites the setup cells and the badges (notebooks and README) from ``pyproject.toml``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .project import BADGE_PREFIX, colab_url, setup_cell
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
    setups = [c for c in code if "REPO_URL" in "".join(c.get("source", ""))]
    if len(setups) != 1 or "".join(setups[0].get("source", "")) != setup_cell(root):
        problems.append(f"{path}: the setup cell (the code cell with REPO_URL) differs from sit.project's "
                        "setup cell (run python -m sit.hygiene --fix)")
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


def _badges(text: str, root: Path) -> str:
    prefix = colab_url(root, "")
    return BADGE_PREFIX.sub(prefix, text)


def fix(root: Path) -> list[Path]:
    """Write the setup cell and the badges from ``pyproject.toml``; returns the files changed."""
    changed = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "code" and "REPO_URL" in source:
                source = setup_cell(root)
            elif cell.get("cell_type") == "markdown":
                source = _badges(source, root)
            cell["source"] = source.splitlines(keepends=True)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    readme = root / "README.md"
    if readme.exists() and _badges(readme.read_text(encoding="utf-8"), root) != readme.read_text(encoding="utf-8"):
        readme.write_text(_badges(readme.read_text(encoding="utf-8"), root), encoding="utf-8")
        changed.append(readme)
    return changed


def check(root: Path) -> list[str]:
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    problems = [p for nb in notebooks for p in check_notebook(nb, root)]
    return problems + check_readme(root, notebooks)


def main(argv: list[str] | None = None) -> int:
    root = find_repo_root() or Path.cwd()
    if "--fix" in (sys.argv[1:] if argv is None else argv):
        for path in fix(root):
            print(f"rewrote {path}")
    problems = check(root)
    for line in problems:
        print(line, file=sys.stderr)
    count = len(list((root / "notebooks").glob("*.ipynb")))
    print(f"hygiene: {count} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
