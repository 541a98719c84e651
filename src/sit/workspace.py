"""One artifact layout, shared by Google Drive (Colab) and local runs.

    <root>/
      data/raw/             01: instructions.jsonl, magpie.jsonl
      data/filtered/        02: filtered.jsonl, rejected.jsonl, report.json
      data/preference/      03: responses/<model-slug>.jsonl, pairs.jsonl, report.json
      models/<model-slug>/  04/05: sft/, dpo/
      evaluation/           06/07: results per model and stage
      runs/                 executed notebooks (papermill)
      publish/              the Hub repos' folders (`sit publish`)

Every artifact folder carries a ``manifest.json`` (see :mod:`sit.manifest`). Every path comes from
:class:`Workspace`; reading one creates nothing (a writer creates the folder it writes into).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .runtime import in_colab

DRIVE_ROOT = Path("/content/drive/MyDrive/synthetic-instruction-tuner")
PROJECT_NAME = "synthetic-instruction-tuner"
# A target's stages: its base weights, then the adapters trained on them, in training order. The
# layout names their folders, so the names live here, below every phase.
STAGES = ("base", "sft", "dpo")
TRAINING_STAGES = STAGES[1:]


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

    @classmethod
    def layout(cls) -> Workspace:
        """The layout alone: every path relative to a workspace root (for tables and messages that name files)."""
        relative = cls.__new__(cls)
        relative.root = Path()
        return relative

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes (``evaluation/results.csv``)."""
        return Path(path).relative_to(self.root).as_posix()

    # Reading a path creates nothing: a writer creates what it writes.

    # data
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def filtered_dir(self) -> Path:
        return self.data_dir / "filtered"

    @property
    def preference_dir(self) -> Path:
        return self.data_dir / "preference"

    @property
    def responses_dir(self) -> Path:
        return self.preference_dir / "responses"

    def responses_file(self, slug: str) -> Path:
        return self.responses_dir / f"{slug}.jsonl"

    # models
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def adapter_dir(self, slug: str, stage: str) -> Path:
        """A trained stage's adapter folder (``models/<slug>/<stage>``)."""
        if stage not in TRAINING_STAGES:
            raise ValueError(f"unknown training stage '{stage}' (known: {', '.join(TRAINING_STAGES)})")
        return self.models_dir / slug / stage

    def merged_dir(self, slug: str, stage: str) -> Path:
        """The stage's adapter merged into an fp16 copy of the base model (``models/<slug>/<stage>-merged-fp16``)."""
        return self.adapter_dir(slug, stage).with_name(f"{stage}-merged-fp16")

    # evaluation (06, 07, the stage comparison of 05 and the report)
    @property
    def evaluation_dir(self) -> Path:
        return self.root / "evaluation"

    @property
    def results_file(self) -> Path:
        """The one results table, every benchmark's rows."""
        return self.evaluation_dir / "results.csv"

    def items_file(self, slug: str, stage: str, benchmark: str) -> Path:
        """The per-item scores behind a benchmark's rows."""
        return self.evaluation_dir / "items" / slug / stage / f"{benchmark}.jsonl"

    def mt_bench_dir(self, slug: str, stage: str) -> Path:
        """MT-Bench answers and judgments of one model at one stage."""
        return self.evaluation_dir / "mt_bench" / slug / stage

    @property
    def stage_answers_dir(self) -> Path:
        """Each stage's answers to the held-out instructions."""
        return self.evaluation_dir / "stages"

    def stage_answers_file(self, slug: str, stage: str) -> Path:
        return self.stage_answers_dir / f"{slug}-{stage}.jsonl"

    @property
    def stages_table(self) -> Path:
        """The reward model's table of the stages (``stages.csv``)."""
        return self.evaluation_dir / "stages.csv"

    @property
    def comparison_file(self) -> Path:
        """The paired-bootstrap deltas against base."""
        return self.evaluation_dir / "comparison.csv"

    @property
    def summary_file(self) -> Path:
        return self.evaluation_dir / "summary.md"

    @property
    def all_results_file(self) -> Path:
        return self.evaluation_dir / "all_results.csv"

    @property
    def nltk_data_dir(self) -> Path:
        return self.evaluation_dir / "nltk_data"

    @property
    def agent_dir(self) -> Path:
        return self.evaluation_dir / "agent"

    @property
    def agent_results_file(self) -> Path:
        return self.agent_dir / "results.csv"

    def agent_episodes_file(self, key: str, split: str) -> Path:
        return self.agent_dir / "episodes" / f"{key}-{split}.jsonl"

    # executed notebooks and Hub folders
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def publish_dir(self) -> Path:
        return self.root / "publish"

    def publish_repo_dir(self, kind: str, name: str) -> Path:
        """A Hub repo's folder (``publish/models/<name>``, ``publish/datasets/<name>``)."""
        if kind not in ("model", "dataset"):
            raise ValueError(f"unknown repo kind '{kind}' (known: model, dataset)")
        return self.publish_dir / f"{kind}s" / name
