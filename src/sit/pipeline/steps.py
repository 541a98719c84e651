"""The pipeline's steps: which notebook writes which artifacts, from which profile settings, after what.

``STEPS`` is the one table ``sit run-all`` knows. Notebooks are discovered (``notebooks/0*.ipynb``),
never listed: a notebook whose number is not in the table still runs, in order, but is never
skipped (nothing tells when it is finished). A notebook whose parameters declare ``MODEL_NAME``
runs once per target model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import ModelSpec
from ..training.fit import SPEED_ONLY as TRAINING_SPEED_ONLY
from ..workspace import Workspace

# Settings that change how fast a step runs, not what it writes.
SPEED_ONLY = ("batch_size", "checkpoint_every", "reward_batch_size")
TRAINING_LOGS = ("logging_steps", "save_steps", "save_total_limit", "report_to")
TRAINING_IGNORED = (*TRAINING_LOGS, *TRAINING_SPEED_ONLY)  # what 04 and 05 write does not depend on these


LAYOUT = Workspace.layout()  # the artifact folders, relative to the workspace


def _counts(manifest: dict) -> dict:
    return manifest.get("counts") or {}


def _loss(manifest: dict) -> str:
    loss = (manifest.get("training") or {}).get("final_loss")
    return "" if loss is None else f"final loss {loss:.3f}"


@dataclass(frozen=True)
class Step:
    """What run-all knows about one numbered notebook."""

    number: str
    artifacts: tuple[str, ...]  # folders under the workspace; {slug} = the target model's registry slug
    sections: tuple[str, ...]  # profile sections (dotted) whose settings decide the artifacts
    after: tuple[str, ...]  # steps whose artifacts this one reads
    ignore: tuple[str, ...] = ()  # settings of those sections that do not change the artifacts
    figure: Callable[[dict], str] | None = None  # the headline of a finished run, from its manifest


STEPS = {step.number: step for step in (
    Step("01", (LAYOUT.rel(LAYOUT.raw_dir),), ("generation",), (), SPEED_ONLY,
         lambda m: f"{_counts(m).get('records', '?')} instruction/response pairs"),
    Step("02", (LAYOUT.rel(LAYOUT.filtered_dir),), ("filtering",), ("01",), (),
         lambda m: f"{_counts(m).get('output', '?')} kept of {_counts(m).get('input', '?')}"),
    Step("03", (LAYOUT.rel(LAYOUT.preference_dir),), ("preference",), ("02",), SPEED_ONLY,
         lambda m: f"{_counts(m).get('pairs', '?')} pairs"),
    Step("04", (LAYOUT.rel(LAYOUT.adapter_dir("{slug}", "sft")),), ("training", "training.sft"), ("02",), TRAINING_IGNORED, _loss),
    Step("05", (LAYOUT.rel(LAYOUT.adapter_dir("{slug}", "dpo")),), ("training", "training.dpo"), ("03", "04"), TRAINING_IGNORED, _loss),
    # 06 and 07 share evaluation/: setting 06 aside moves 07's results too, and 07 then runs again.
    Step("06", (LAYOUT.rel(LAYOUT.evaluation_dir),), ("evaluation", "evaluation.ifeval", "evaluation.mmlu", "evaluation.mt_bench"),
         ("04", "05"), (*SPEED_ONLY, "judge_batch_size"), lambda m: f"{_counts(m).get('rows', '?')} result rows"),
    Step("07", (LAYOUT.rel(LAYOUT.agent_dir),), ("agent",), ("04", "05"), SPEED_ONLY,
         lambda m: f"{_counts(m).get('episodes', '?')} episodes"),
)}


@dataclass(frozen=True)
class Run:
    """One notebook execution: a notebook, and the target model when it runs per model."""

    notebook: Path
    model: ModelSpec | None
    declared: frozenset[str]  # the notebook's parameter names

    @property
    def number(self) -> str:
        return self.notebook.name[:2]

    @property
    def step(self) -> Step | None:
        return STEPS.get(self.number)

    @property
    def label(self) -> str:
        return self.notebook.stem if self.model is None else f"{self.notebook.stem} · {self.model.slug}"

    @property
    def output_name(self) -> str:
        return self.notebook.name if self.model is None else f"{self.notebook.stem}-{self.model.slug}.ipynb"

    def folders(self) -> list[str]:
        """The artifact folders of this run, relative to the workspace (none for an unknown step)."""
        if self.step is None:
            return []
        slug = self.model.slug if self.model is not None else ""
        return [folder.format(slug=slug) for folder in self.step.artifacts]

    def depends_on(self, other: Run) -> bool:
        """Whether this run reads what ``other`` writes (directly)."""
        if other.number >= self.number:
            return False
        if self.step is None:
            return True
        if other.number not in self.step.after:
            return False
        if other.model is None or self.model is None or other.model.slug == self.model.slug:
            return True
        # Another model's run matters when its step writes one folder for all models (03's pairs).
        return other.step is None or not any("{slug}" in folder for folder in other.step.artifacts)


def discover(notebook_dir: Path, targets: list[ModelSpec]) -> list[Run]:
    """Every notebook run in pipeline order: per-model notebooks once per target."""
    import papermill

    runs = []
    for notebook in sorted(Path(notebook_dir).glob("0*.ipynb")):
        declared = frozenset(papermill.inspect_notebook(str(notebook)))
        if "MODEL_NAME" in declared:
            runs += [Run(notebook, spec, declared) for spec in targets]
        else:
            runs.append(Run(notebook, None, declared))
    return runs


def downstream(runs: list[Run], start: Run) -> list[Run]:
    """``start`` and every run that reads, directly or not, what it writes."""
    reached = [start]
    for run in runs:
        if run is not start and any(run.depends_on(r) for r in reached):
            reached.append(run)
    return reached
