"""The offline benchmark fixtures (sit/evaluation/data/): their schemas, their coverage of lm-eval's IFEval
instructions, every prompt checked by lm-eval's own checkers against two written answers, a balanced
MMLU answer key, and the local task YAMLs loading them through lm-eval's TaskManager."""

import collections
import json
from pathlib import Path

import pytest

from sit.config import load_profile
from sit.evaluation.benchmarks import IFEVAL, MMLU
from sit.evaluation.harness import DATA_DIR, local_subjects, local_task_configs
from sit.evaluation.punkt import ensure_punkt
from sit.store import read_jsonl
from sit.workspace import Workspace

REFERENCE_ANSWERS = Path(__file__).parent / "data" / "ifeval_reference_answers.jsonl"
IFEVAL_FIELDS = {"key", "prompt", "instruction_id_list", "kwargs"}
MMLU_FIELDS = {"question", "subject", "choices", "answer"}


def ifeval_docs() -> list[dict]:
    return read_jsonl(DATA_DIR / "ifeval.jsonl")


def mmlu_files(split: str) -> dict[str, list[dict]]:
    return {s: read_jsonl(DATA_DIR / f"mmlu_{s}_{split}.jsonl") for s in local_subjects()}


def _unordered(kwargs: dict) -> dict:
    """Keyword lists compared as sets (the keyword checker keeps them sorted)."""
    return {k: sorted(v) if isinstance(v, list) else v for k, v in kwargs.items()}


@pytest.fixture(scope="module")
def ifeval_utils(tmp_path_factory):
    """lm-eval's IFEval scoring module, with the project's offline punkt_tab first on nltk's path (its
    import would otherwise try to download one)."""
    ensure_punkt(Workspace(tmp_path_factory.mktemp("punkt")), seed=42, offline=True)
    from lm_eval.tasks.ifeval import utils

    return utils


@pytest.fixture(scope="module")
def registry(ifeval_utils):
    """lm-eval's IFEval instruction registry (imported after the punkt model is in place)."""
    from lm_eval.tasks.ifeval import instructions_registry

    return instructions_registry


def test_ifeval_fixture_has_the_google_ifeval_schema_and_unique_keys_and_prompts(registry):
    instructions = registry.INSTRUCTION_DICT
    docs = ifeval_docs()
    assert len(docs) >= 120
    for doc in docs:
        assert set(doc) == IFEVAL_FIELDS, doc["key"]
        assert isinstance(doc["key"], int) and doc["prompt"].strip()
        assert len(doc["kwargs"]) == len(doc["instruction_id_list"]) >= 1, doc["key"]
        assert set(doc["instruction_id_list"]) <= set(instructions), doc["key"]
        assert len(set(doc["instruction_id_list"])) == len(doc["instruction_id_list"]), doc["key"]
    assert len({d["key"] for d in docs}) == len(docs)
    assert len({d["prompt"] for d in docs}) == len(docs)


def test_every_instruction_of_lm_evals_registry_is_used_also_within_the_demos_limit(registry):
    instructions = registry.INSTRUCTION_DICT
    docs = ifeval_docs()
    counts = collections.Counter(i for d in docs for i in d["instruction_id_list"])
    assert set(counts) == set(instructions)
    assert min(counts.values()) >= 4, counts.most_common()[-3:]
    limit = load_profile("demo")["evaluation"]["ifeval"]["limit"]  # lm-eval evaluates the first `limit` prompts
    assert {i for d in docs[:limit] for i in d["instruction_id_list"]} == set(instructions)


def test_no_prompt_combines_instructions_that_lm_eval_declares_in_conflict(registry):
    conflicts = registry.conflict_make({k: set(v) for k, v in registry.INSTRUCTION_CONFLICTS.items()})
    for doc in ifeval_docs():
        ids = doc["instruction_id_list"]
        clashes = [(a, b) for n, a in enumerate(ids) for b in ids[n + 1:] if b in conflicts[a]]
        assert not clashes, (doc["key"], clashes)


def test_every_instruction_gets_the_arguments_its_checker_takes(registry):
    """The arguments lm-eval passes (None and other falsy values dropped) are exactly those the checker
    records: none is left for the checker to draw at random, and none is ignored."""
    for doc in ifeval_docs():
        for instruction_id, kwargs in zip(doc["instruction_id_list"], doc["kwargs"], strict=True):
            given = {k: v for k, v in kwargs.items() if v}
            checker = registry.INSTRUCTION_DICT[instruction_id](instruction_id)
            checker.build_description(**given)
            assert set(given) == set(checker.get_instruction_args_keys()), (doc["key"], instruction_id)
            recorded = checker.get_instruction_args() or {}
            assert _unordered(recorded) == _unordered(given), (doc["key"], instruction_id)


def test_each_prompt_passes_an_answer_that_follows_it_and_fails_one_that_does_not(ifeval_utils):
    """lm-eval's strict scoring (test_instruction_following_strict, as process_results calls it), on the
    two answers written for every prompt in tests/data/ifeval_reference_answers.jsonl."""
    docs = {d["key"]: d for d in ifeval_docs()}
    answers = {a["key"]: a for a in read_jsonl(REFERENCE_ANSWERS)}
    assert set(answers) == set(docs)
    wrong = []
    for key, doc in docs.items():
        example = ifeval_utils.InputExample(key=key, instruction_id_list=doc["instruction_id_list"],
                                            prompt=doc["prompt"], kwargs=doc["kwargs"])
        follows = ifeval_utils.test_instruction_following_strict(example, answers[key]["follows"])
        breaks = ifeval_utils.test_instruction_following_strict(example, answers[key]["breaks"])
        if not follows.follow_all_instructions:
            wrong.append((key, "follows", follows.follow_instruction_list))
        if breaks.follow_all_instructions:
            wrong.append((key, "breaks", breaks.follow_instruction_list))
    assert not wrong
    # and through process_results itself, the function the task YAML names
    doc = docs[9001]
    assert ifeval_utils.process_results(doc, [answers[9001]["follows"]])["prompt_level_strict_acc"]
    assert not ifeval_utils.process_results(doc, [answers[9001]["breaks"]])["prompt_level_strict_acc"]


def test_mmlu_fixture_has_the_cais_mmlu_schema_and_no_repeated_question():
    tests, devs = mmlu_files("test"), mmlu_files("dev")
    assert len(tests) >= 5 and set(tests) == set(devs)
    questions = []
    for subject, rows in [*tests.items(), *devs.items()]:
        assert rows, subject
        for row in rows:
            assert set(row) == MMLU_FIELDS and row["subject"] == subject, row
            assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4, row["question"]
            assert all(isinstance(c, str) and c.strip() for c in row["choices"]), row["question"]
            assert isinstance(row["answer"], int) and 0 <= row["answer"] <= 3, row["question"]
            questions.append(row["question"])
    assert len(set(questions)) == len(questions)
    assert sum(len(rows) for rows in tests.values()) >= 100
    assert all(len(rows) >= 5 for rows in devs.values())  # enough for lm-eval's 5-shot


def test_mmlu_answer_letters_are_equally_common_overall_in_each_file_and_in_every_block_of_four():
    """So a model that always gives one letter scores exactly chance, whatever the `limit` (a multiple of 4)."""
    tests = mmlu_files("test")
    overall = collections.Counter(r["answer"] for rows in tests.values() for r in rows)
    assert set(overall) == {0, 1, 2, 3} and len(set(overall.values())) == 1, overall
    for subject, rows in tests.items():
        assert len(rows) % 4 == 0, subject
        for start in range(0, len(rows), 4):
            assert sorted(r["answer"] for r in rows[start:start + 4]) == [0, 1, 2, 3], (subject, start)
    dev = collections.Counter(r["answer"] for rows in mmlu_files("dev").values() for r in rows)
    assert set(dev) == {0, 1, 2, 3}
    assert load_profile("demo")["evaluation"]["mmlu"]["limit"] % 4 == 0  # the demo's first questions are balanced


def test_the_local_task_yamls_load_every_fixture_file_through_lm_evals_task_manager(ifeval_utils):
    from lm_eval.tasks import TaskManager

    configs = local_task_configs(IFEVAL, {"tasks": "local"}) + local_task_configs(MMLU, {"tasks": "local"})
    tasks = TaskManager(include_defaults=False, metadata={}).load(configs)["tasks"]
    assert set(tasks) == {"ifeval_local", *(f"mmlu_local_{s}" for s in local_subjects())}
    ifeval = tasks["ifeval_local"]
    assert [d["key"] for d in ifeval.eval_docs] == [d["key"] for d in ifeval_docs()]
    assert ifeval.doc_to_text(ifeval.eval_docs[0]) == ifeval_docs()[0]["prompt"]
    for subject, rows in mmlu_files("test").items():
        task = tasks[f"mmlu_local_{subject}"]
        docs = list(task.eval_docs)
        assert [d["question"] for d in docs] == [r["question"] for r in rows]
        assert [task.doc_to_target(d) for d in docs] == [r["answer"] for r in rows]
        assert [d["question"] for d in task.fewshot_docs()] == [r["question"] for r in mmlu_files("dev")[subject]]
        assert task.doc_to_text(docs[0]).endswith("D. " + rows[0]["choices"][3] + "\nAnswer:")


def test_reference_answers_file_is_plain_json_lines():
    for line in REFERENCE_ANSWERS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert set(record) == {"key", "follows", "breaks"} and record["follows"] != record["breaks"]


def test_results_from_other_fixture_files_neither_count_as_done_nor_compare(tmp_path, monkeypatch):
    """A workspace evaluated on an older fixture (Drive keeps it across `pip install -U`) is evaluated again:
    the fingerprint that decides "done" and "comparable" holds a digest of the files the task reads."""
    from sit.evaluation import harness
    from sit.evaluation.run import fingerprint
    from sit.session import start

    session = start("demo", str(tmp_path / "ws"), verbose=False)
    local, nutrition = {"tasks": "local", "limit": None}, {"tasks": "local", "subjects": ["nutrition"]}
    before = {"ifeval": fingerprint(session, IFEVAL, local), "mmlu": fingerprint(session, MMLU, local),
              "nutrition": fingerprint(session, MMLU, nutrition)}
    assert fingerprint(session, IFEVAL, local) == before["ifeval"]
    copy = tmp_path / "data"
    copy.mkdir()
    for path in DATA_DIR.glob("*.jsonl"):
        (copy / path.name).write_bytes(path.read_bytes())
    lines = (copy / "ifeval.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (copy / "ifeval.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    dev = copy / "mmlu_astronomy_dev.jsonl"
    dev.write_text(dev.read_text(encoding="utf-8").replace("The Moon", "Earth's Moon", 1), encoding="utf-8")
    monkeypatch.setattr(harness, "DATA_DIR", copy)
    assert fingerprint(session, IFEVAL, local) != before["ifeval"]
    assert fingerprint(session, MMLU, local) != before["mmlu"]
    assert fingerprint(session, MMLU, nutrition) == before["nutrition"]  # only the files the task reads count
    assert "fixture" not in fingerprint(session, IFEVAL, {"tasks": "hub", "limit": 100})
