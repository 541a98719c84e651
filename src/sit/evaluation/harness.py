"""IFEval, MMLU (and any ``lm_eval`` benchmark of the registry) through ``lm_eval.simple_evaluate``.

The model object of a stage (base, or base + LoRA adapter) is wrapped in lm-eval's ``HFLM``. With
``tasks: hub`` lm-eval loads its stock tasks from the hub; with ``tasks: local`` the project's YAML
under ``sit/evaluation/tasks/`` runs lm-eval's own task logic on the offline fixtures in
``sit/evaluation/data/`` (same schemas as google/IFEval and cais/mmlu).

:func:`item_scores` turns lm-eval's logged samples into one record per item, which the results
table and the paired bootstrap are computed from.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..inference.engine import is_oom
from ..inference.finite import watch_logits
from ..models import release_memory
from .benchmarks import Benchmark
from .quiet import quiet_lm_eval

PACKAGE = Path(__file__).resolve().parent
TASKS_DIR = PACKAGE / "tasks"
DATA_DIR = PACKAGE / "data"


def local_subjects(prefix: str = "mmlu_") -> list[str]:
    """Subjects with both a test and a dev file among the fixtures."""
    tests = {p.name[len(prefix):-len("_test.jsonl")] for p in DATA_DIR.glob(f"{prefix}*_test.jsonl")}
    return sorted(s for s in tests if (DATA_DIR / f"{prefix}{s}_dev.jsonl").exists())


def _load_task_yaml(name: str, resolve_func: bool = True) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    path = TASKS_DIR / name
    if not path.exists():
        raise ConfigError(f"no task file {path}")
    return load_yaml(str(path), resolve_func=resolve_func)


def _absolute(files: dict) -> dict:
    return {split: str(DATA_DIR / name) for split, name in files.items()}


def fixture_digest(benchmark: Benchmark, settings: dict) -> str:
    """A digest of the task YAML and every data file the offline tasks of ``benchmark`` read.

    Scores made from other fixture files (an older release of the package) are neither done nor
    comparable with new ones, although every setting is the same."""
    digest = hashlib.sha256((TASKS_DIR / benchmark.local_task).read_bytes())
    for config in local_task_configs(benchmark, settings, resolve_func=False):
        for split, path in sorted(config["dataset_kwargs"]["data_files"].items()):
            digest.update(f"{config['task']}:{split}:".encode())
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def local_task_configs(benchmark: Benchmark, settings: dict, *, resolve_func: bool = True) -> list[dict]:
    """The offline task configs (dicts lm-eval builds tasks from), data paths made absolute.

    ``resolve_func=False`` leaves the YAML's ``!function`` tags unimported (IFEval's scoring module
    imports nltk, which must not happen before the workspace's punkt model is registered)."""
    base = _load_task_yaml(benchmark.local_task, resolve_func)
    if "SUBJECT" not in base["task"]:
        config = copy.deepcopy(base)
        config["dataset_kwargs"]["data_files"] = _absolute(config["dataset_kwargs"]["data_files"])
        return [config]
    subjects = settings.get("subjects") or local_subjects()
    missing = sorted(set(subjects) - set(local_subjects()))
    if missing:
        raise ConfigError(f"evaluation.{benchmark.name}.subjects: no offline fixture for {missing} "
                          f"(offline subjects: {', '.join(local_subjects())})")
    configs = []
    for subject in subjects:
        config = copy.deepcopy(base)
        config["task"] = base["task"].replace("SUBJECT", subject)
        files = {k: v.replace("SUBJECT", subject) for k, v in base["dataset_kwargs"]["data_files"].items()}
        config["dataset_kwargs"]["data_files"] = _absolute(files)
        config["description"] = ("The following are multiple choice questions (with answers) about "
                                 f"{subject.replace('_', ' ')}.\n\n")
        configs.append(config)
    return configs


def task_specs(benchmark: Benchmark, settings: dict) -> list:
    """What ``simple_evaluate(tasks=...)`` gets for this benchmark and these knobs."""
    source = settings.get("tasks", "hub")
    if source == "local":
        return local_task_configs(benchmark, settings)
    if source != "hub":
        raise ConfigError(f"evaluation.{benchmark.name}.tasks must be 'hub' or 'local', got {source!r}")
    if benchmark.subtask_prefix and settings.get("subjects"):
        return [benchmark.subtask_prefix + s for s in settings["subjects"]]
    return list(benchmark.hub_tasks)


@dataclass
class BatchSize:
    """lm-eval's batch size for one benchmark over one evaluation run.

    An out-of-memory error halves it, and it stays halved for the rest of the run: the next stage
    would run out of memory on the same long prompts again."""

    size: int
    halvings: int = 0

    def __post_init__(self):
        self.start = self.size

    def halve(self) -> None:
        self.size = max(1, self.size // 2)
        self.halvings += 1

    def note(self) -> str:
        """What a result's note says about it ("" while the batch was never halved)."""
        if not self.halvings:
            return ""
        return (f"batch {self.start} -> {self.size} after {self.halvings} out-of-memory error(s), kept for the "
                "rest of the run")


def run_harness(model, tokenizer, benchmark: Benchmark, settings: dict, *, chat_template: bool, seed: int,
                progress: bool = False, stops: tuple[tuple[int, ...], tuple[str, ...]] | None = None,
                batch: BatchSize | None = None) -> dict:
    """``lm_eval.simple_evaluate`` on an in-memory model; returns lm-eval's results dict (with samples).

    ``stops`` (token ids, strings) end every generated answer (the base stage's stop set). On
    out-of-memory the call is run again with half the batch (``batch`` keeps the smaller size).
    Every forward pass lm-eval runs is watched for NaN/inf logits: the dict gains ``non_finite_logits``
    (a :class:`~sit.inference.finite.NonFiniteLogits`)."""
    batch = batch or BatchSize(int(settings.get("batch_size", 1)))
    with watch_logits(model) as watch:
        while True:
            try:
                with quiet_lm_eval(progress):
                    raw = _simple_evaluate(model, tokenizer, benchmark, settings, chat_template, seed, stops,
                                           batch.size)
                break
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, everything else re-raised
                if not is_oom(exc) or batch.size == 1:
                    raise
            batch.halve()
            release_memory()
    raw["non_finite_logits"] = watch
    return raw


def generation_kwargs(settings: dict, tokenizer, stops) -> dict | None:
    """What lm-eval's ``gen_kwargs`` override in the tasks' own generation settings.

    Stop strings go to ``until`` (lm-eval cuts each answer there); stop token ids also go to
    ``generate`` itself, because lm-eval's string stop ends a batch only when every row has hit it and
    decodes without special tokens, so a row that ended with an end-of-turn token would run on."""
    kwargs = {"max_gen_toks": int(settings["max_gen_toks"])} if "max_gen_toks" in settings else {}
    if stops:
        ids, strings = stops
        kwargs["until"] = [*strings, *(tokenizer.convert_ids_to_tokens(i) for i in ids)]
        kwargs["eos_token_id"] = list(ids)
    return kwargs or None


@functools.cache
def task_manager(source: str):
    """lm-eval's task index, built once per process.

    ``simple_evaluate`` otherwise builds a new one on every call, reading all of lm-eval's task YAMLs
    (6-10 s, six times per model for three stages and two benchmarks). The offline tasks are inline
    configs that need none of that index."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=source != "local", metadata={})


def _simple_evaluate(model, tokenizer, benchmark, settings, chat_template, seed, stops, batch_size) -> dict:
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    return lm_eval.simple_evaluate(
        model=lm, tasks=task_specs(benchmark, settings), task_manager=task_manager(settings.get("tasks", "hub")),
        num_fewshot=settings.get("num_fewshot"),
        limit=settings.get("limit"), apply_chat_template=chat_template, fewshot_as_multiturn=chat_template,
        gen_kwargs=generation_kwargs(settings, tokenizer, stops), log_samples=True, bootstrap_iters=0,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
    )


def _score(value):
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    return float(value)


def item_scores(raw: dict, benchmark: Benchmark) -> list[dict]:
    """One record per evaluated item: ``{"id", "task", "scores": {metric: value or [values]}, "output"}``.

    A metric that is a list per item (IFEval's instruction-level accuracy) keeps the list, so its
    aggregate stays a ratio of sums over instructions."""
    items = []
    for task in sorted(raw.get("samples") or {}):
        for sample in raw["samples"][task]:
            scores = {m: _score(sample[m]) for m in benchmark.metrics if m in sample}
            if not scores:
                continue
            response = sample.get("filtered_resps") or sample.get("resps") or []
            first = response[0] if response else None
            items.append({"id": f"{task}:{sample['doc_id']}", "task": task, "scores": scores,
                          "output": first if isinstance(first, str) else None,
                          "target": str(sample.get("target", "")), "choice": _choice(response)})
    return items


def _choice(response: list) -> int | None:
    """The option a multiple-choice item picked (the highest log-likelihood), so a model that always picks
    the same letter can be told apart from one that knows; None for generated answers."""
    if not all(isinstance(option, list | tuple) and option for option in response):
        return None
    try:
        scores = [float(option[0]) for option in response]
    except (TypeError, ValueError):
        return None
    return max(range(len(scores)), key=scores.__getitem__) if scores else None


def sample_sizes(raw: dict) -> dict[str, int]:
    """Items evaluated per task (after ``limit``), as lm-eval reports them."""
    return {task: int(n["effective"]) for task, n in (raw.get("n-samples") or {}).items()}
