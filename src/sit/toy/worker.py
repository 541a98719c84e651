"""A toy-world build worker: ``python -m sit.toy.worker PLAN.json`` trains the models listed in the plan.

The plan names the world seed, the sizes and the jobs; the reports go to ``PLAN.reports.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..store import write_json_atomic
from .build import Job, Sizes, run_job
from .corpus import make_corpus


def main(argv: list[str] | None = None) -> int:
    """Run every job of one plan file, in order."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sit.toy.worker PLAN.json", file=sys.stderr)
        return 2
    plan_path = Path(args[0])
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    sizes = Sizes(**plan["sizes"])
    corpus = make_corpus(plan["seed"], sizes.corpus)
    reports = dict(run_job(Job.from_dict(job), corpus, sizes) for job in plan["jobs"])
    write_json_atomic(plan_path.with_name(plan_path.stem + ".reports.json"), reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
