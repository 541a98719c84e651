"""One artifact layout, shared by Google Drive (Colab) and local runs.

    <root>/
      data/raw/             01: instructions.jsonl, magpie.jsonl
      data/filtered/        02: filtered.jsonl, rejected.jsonl, report.json
      data/preference/      03: responses/<model-slug>.jsonl, pairs.jsonl, report.json
      models/<model-slug>/  04/05: sft/, dpo/
      evaluation/           06/07: results per model and stage
      runs/                 executed notebooks (papermill)

Every artifact folder carries a ``manifest.json`` (see :mod:`sit.manifest`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .runtime import in_colab

DRIVE_ROOT = Path("/content/drive/MyDrive/synthetic-instruction-tuner")
PROJECT_NAME = "synthetic-instruction-tuner"


class WorkspaceError(OSError):
    pass


def find_repo_root(start: str | Path | None = None) -> Path | None:
    """The checkout this code runs from (a folder whose pyproject.toml names this project)."""
    candidates = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parent]
    for base in candidates:
        for folder in [base, *base.parents]:
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file() and f'name = "{PROJECT_NAME}"' in pyproject.read_text(encoding="utf-8"):
                return folder
    return None


def default_root() -> Path:
    """Drive on Colab; the repository root in a checkout; else the current folder."""
    env = os.environ.get("SIT_WORKSPACE")
    if env:
        return Path(env)
    if in_colab():
        return DRIVE_ROOT
    return find_repo_root() or Path.cwd()


class Workspace:
    def __init__(self, root: str | Path | None = None, *, create: bool = True):
        self.root = Path(root).expanduser().resolve() if root else default_root().resolve()
        if create:
            self.check_writable()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise WorkspaceError(
                f"workspace '{self.root}' is not writable ({exc.strerror or exc}). "
                "Pass another folder as WORKSPACE / --workspace."
            ) from exc

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # data
    @property
    def raw_dir(self) -> Path:
        return self._dir("data", "raw")

    @property
    def filtered_dir(self) -> Path:
        return self._dir("data", "filtered")

    @property
    def preference_dir(self) -> Path:
        return self._dir("data", "preference")

    def responses_file(self, slug: str) -> Path:
        return self._dir("data", "preference", "responses") / f"{slug}.jsonl"

    # models and evaluation
    def model_dir(self, slug: str, stage: str) -> Path:
        if stage not in ("sft", "dpo"):
            raise ValueError(f"unknown training stage '{stage}' (known: sft, dpo)")
        return self._dir("models", slug, stage)

    @property
    def evaluation_dir(self) -> Path:
        return self._dir("evaluation")

    @property
    def runs_dir(self) -> Path:
        return self._dir("runs")
