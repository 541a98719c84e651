"""Project-wide facts defined once, in ``pyproject.toml``: the repository URL ([project.urls] Repository) and
the version, whose tag ``v<version>`` is the release the notebooks install and their Colab badges open.

The notebooks' setup cell and badges are written from these (``python -m sit.hygiene --fix``) and checked
against them byte for byte (``python -m sit.hygiene``): a fork changes the Repository line and runs the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

NOTEBOOK_DIR = "notebooks"
# Colab badges of any owner, repository and ref: what ``--fix`` rewrites.
BADGE_PREFIX = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/"
                          + NOTEBOOK_DIR + "/")
SETUP_CELL = '''\
# Setup. On Colab: install this notebook's release of the project once per runtime (Colab's torch is kept)
# and mount Google Drive (artifacts live there and survive a disconnect). Everywhere: read HF_TOKEN (Colab
# secret or environment; it is never printed), seed everything, and print a short summary of the machine.
import os
import subprocess
import sys

REPO_URL, REPO_REF = "{url}", "{ref}"
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/sit"):
        branch = ["-b", REPO_REF]
        # exit code 2: the repository answered and has no such tag (offline is 128: the clone says why)
        tag = subprocess.run(["git", "ls-remote", "--exit-code", REPO_URL, f"refs/tags/{{REPO_REF}}"],
                             capture_output=True)
        if tag.returncode == 2:
            print(f"WARNING: {{REPO_URL}} has no tag {{REPO_REF}}, this notebook's release\\n"
                  "(`make release` creates it). Installing its default branch instead: that code may not\\n"
                  "match this notebook. To install another tag or branch, set REPO_REF above, run again.")
            branch = []
        subprocess.run(["git", "clone", "-q", "--depth", "1", *branch, REPO_URL, "/content/sit"], check=True)
    subprocess.run("cd /content/sit && pip install -q -r requirements.txt"
                   " && pip install -q --no-deps -r requirements-nodeps.txt .", shell=True, check=True)

from sit.session import start

session = start(PROFILE, WORKSPACE, SEED, OVERRIDES)'''


def _pyproject_field(root: str | Path, pattern: str, what: str) -> str:
    text = (Path(root) / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(pattern, text, re.MULTILINE)
    if not match:
        raise ValueError(f"{root}/pyproject.toml: no {what}")
    return match.group(1)


def repository_url(root: str | Path) -> str:
    return _pyproject_field(root, r'^Repository\s*=\s*"([^"]+)"', "Repository URL under [project.urls]").rstrip("/")


def release_ref(root: str | Path) -> str:
    """The git tag of this version (``v0.1.0``): what the setup cell installs and the badges open."""
    return "v" + _pyproject_field(root, r'^version\s*=\s*"([^"]+)"', "version under [project]")


def setup_cell(root: str | Path) -> str:
    """The setup cell every notebook carries, character for character."""
    return SETUP_CELL.format(url=repository_url(root), ref=release_ref(root))


def colab_url(root: str | Path, notebook: str) -> str:
    """``https://colab.research.google.com/github/OWNER/REPO/blob/REF/notebooks/NAME``."""
    owner_repo = repository_url(root).split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{release_ref(root)}/{NOTEBOOK_DIR}/{notebook}"
