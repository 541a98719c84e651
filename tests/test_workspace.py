"""The workspace owns every artifact path, and reading a path creates nothing."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import sit
from sit.workspace import Workspace

PACKAGE = Path(sit.__file__).resolve().parent
OWNED = ("models", "evaluation")  # the top-level artifact folders only sit/workspace.py may spell
OWNED_DIRS = ("models_dir", "evaluation_dir")  # their Workspace paths: a path under them is the workspace's too
# Arguments for every path method, by parameter name (a new parameter name must be added here).
ARGUMENTS = {"slug": "qwen2.5-3b", "stage": "sft", "benchmark": "ifeval", "key": "rule", "split": "test",
             "kind": "model", "name": "Qwen2.5-3B-SIT-dpo"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _leading_text(node: ast.AST) -> str | None:
    """The literal text a string starts with (an f-string: its first literal part)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def _is_path_literal(text: str) -> bool:
    """``models/...`` or ``evaluation/...`` written as a path: no spaces (a sentence that mentions a file is
    prose) and not a source file of the package (``evaluation/judge_data.py``)."""
    return (re.match(rf"({'|'.join(OWNED)})/", text) is not None and not re.search(r"\s", text)
            and not text.endswith(".py"))


def hand_built_paths(source: str, name: str) -> list[str]:
    """Every place in ``source`` that spells an owned folder as a path segment, as ``name:line: code``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []

    def note(node: ast.AST) -> None:
        found.append(f"{name}:{node.lineno}: {ast.get_source_segment(source, node)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if isinstance(node.left, ast.Attribute) and node.left.attr in OWNED_DIRS:
                note(node)
            for side in (node.left, node.right):
                text = _leading_text(side)
                if text is not None and (text in OWNED or _is_path_literal(text)):
                    note(node)
        elif isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in ("joinpath", "Path", "PurePath", "PurePosixPath") and any(
                    _leading_text(a) in OWNED for a in node.args):
                note(node)
        elif id(node) not in docstrings and isinstance(node, (ast.Constant, ast.JoinedStr)):
            text = _leading_text(node)
            if text is not None and _is_path_literal(text):
                note(node)
    return found


def test_no_module_but_the_workspace_builds_models_or_evaluation_paths():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "workspace.py":
            continue
        found += hand_built_paths(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())
    assert not found, "artifact paths built by hand (use a sit.workspace.Workspace path):\n" + "\n".join(found)


@pytest.mark.parametrize("code", [
    'folder = session.workspace.root / "models" / spec.slug / stage',
    'path = ws.root / "evaluation" / "stages.csv"',
    'path = evaluation_dir.joinpath("x") / root.joinpath("evaluation")',
    'RESULTS = "evaluation/results.csv"',
    'manifest = read(f"models/{slug}/{stage}/manifest.json")',
    'path = root / f"evaluation/agent/{name}"',
    'path = session.workspace.evaluation_dir / "items" / slug',
    'path = ws.models_dir / slug / "sft"',
])
def test_the_scan_finds_each_way_of_building_a_path(code):
    assert hand_built_paths(code, "x.py"), code


@pytest.mark.parametrize("code", [
    '"""Writes ``evaluation/results.csv``."""',
    'models = manifest.get("models") or []',
    'SECTION = "evaluation"',
    'missing(section, "`evaluation/results.csv`", hint)',
    'help_text = "evaluation/report.md and evaluation/slides.pptx"',
    'sources = ("evaluation/judge_data.py",)',
])
def test_the_scan_leaves_prose_and_other_uses_alone(code):
    assert not hand_built_paths(code, "x.py"), code


def _every_path(ws: Workspace) -> dict[str, Path]:
    """Every path the workspace names: each property and each method, called with sample arguments."""
    paths = {}
    for name, member in inspect.getmembers(Workspace):
        if name.startswith("_") or name in ("check_writable", "layout", "rel"):
            continue
        if isinstance(member, property):
            paths[name] = getattr(ws, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]
            paths[name] = getattr(ws, name)(*[ARGUMENTS[p] for p in params])
    return paths


def test_reading_every_workspace_path_creates_nothing(tmp_path):
    ws = Workspace(tmp_path)
    paths = _every_path(ws)
    assert {"raw_dir", "adapter_dir", "evaluation_dir", "items_file", "agent_episodes_file", "runs_dir"} <= set(paths)
    assert all(isinstance(p, Path) and tmp_path in p.parents for p in paths.values()), paths
    assert list(tmp_path.iterdir()) == []


def test_the_layout_names_the_same_paths_relative_to_the_root(tmp_path):
    ws, layout = Workspace(tmp_path), Workspace.layout()
    real, relative = _every_path(ws), _every_path(layout)
    assert {name: ws.rel(path) for name, path in real.items()} == {n: p.as_posix() for n, p in relative.items()}
    assert relative["adapter_dir"].as_posix() == "models/qwen2.5-3b/sft"
    assert relative["merged_dir"].as_posix() == "models/qwen2.5-3b/sft-merged-fp16"
    assert relative["items_file"].as_posix() == "evaluation/items/qwen2.5-3b/sft/ifeval.jsonl"
    assert relative["agent_episodes_file"].as_posix() == "evaluation/agent/episodes/rule-test.jsonl"
    assert relative["publish_repo_dir"].as_posix() == "publish/models/Qwen2.5-3B-SIT-dpo"
    with pytest.raises(ValueError, match="unknown training stage 'rlhf'"):
        ws.adapter_dir("x", "rlhf")
