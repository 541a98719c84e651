"""Project-wide facts defined once: the repository URL (pyproject's [project.urls] Repository),
from which the Colab badges and the notebooks' install step are checked (``python -m sit.hygiene``)."""

from __future__ import annotations

import re
from pathlib import Path

NOTEBOOK_DIR = "notebooks"
BRANCH = "main"


def repository_url(root: str | Path) -> str:
    text = (Path(root) / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise ValueError(f"{root}/pyproject.toml: no Repository URL under [project.urls]")
    return match.group(1).rstrip("/")


def colab_url(root: str | Path, notebook: str) -> str:
    """``https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/notebooks/NAME``."""
    owner_repo = repository_url(root).split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{NOTEBOOK_DIR}/{notebook}"
