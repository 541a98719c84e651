"""``sit filter`` as a real subprocess: both forms, outputs, and the error messages a user sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_filtering_pipeline import mixed

SIT = Path(sys.executable).parent / "sit"

pytestmark = pytest.mark.slow


def sit_filter(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SIT), "filter", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


def write_raw(path: Path, lines: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in mixed()] if lines is None else lines
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_file_form_writes_the_outputs(tmp_path):
    raw, out = write_raw(tmp_path / "raw.jsonl"), tmp_path / "out"
    done = sit_filter("--input", raw, "--output-dir", out, "--target", 4, "--seed", 3)
    assert done.returncode == 0, done.stderr
    assert "near_duplicate" in done.stdout and "13 in, 4 kept" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["input"] == 13 and report["output"] == 4 and report["seed"] == 3
    assert len((out / "filtered.jsonl").read_text().splitlines()) == 4
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 9
    assert json.loads((out / "manifest.json").read_text())["profile"] == "custom"


def test_invalid_line_names_file_and_line_and_skip_invalid_counts_it(tmp_path):
    lines = [json.dumps(r) for r in mixed()]
    lines.insert(2, '{"id": "x", "instruction": "Say hi.", "response": 5}')
    raw, out = write_raw(tmp_path / "raw.jsonl", lines), tmp_path / "out"
    done = sit_filter("--input", raw, "--output-dir", out)
    assert done.returncode == 2
    assert f"{raw}: line 3: 'response' must be a string, got int" in done.stderr
    assert not (out / "report.json").exists()
    done = sit_filter("--input", raw, "--output-dir", out, "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert "skipped 1 invalid input line(s)" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["invalid_lines_skipped"] == 1 and report["invalid_lines"][0]["line"] == 3


def test_not_json_line(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", [json.dumps(mixed()[0]), "{oops", json.dumps(mixed()[1])])
    done = sit_filter("--input", raw, "--output-dir", tmp_path / "out")
    assert done.returncode == 2 and f"{raw}: line 2: not valid JSON" in done.stderr


def test_empty_input(tmp_path):
    raw, out = write_raw(tmp_path / "raw.jsonl", []), tmp_path / "out"
    done = sit_filter("--input", raw, "--output-dir", out)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["input"] == 0 and report["output"] == 0
    assert (out / "filtered.jsonl").read_text() == "" and (out / "rejected.jsonl").read_text() == ""


def test_config_file_errors(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl")
    config = tmp_path / "filtering.yaml"
    config.write_text("filtering:\n  pipeline: [length, spellcheck]\n", encoding="utf-8")
    done = sit_filter("--input", raw, "--output-dir", tmp_path / "out", "--config", config)
    assert done.returncode == 2
    assert "unknown filter(s) 'spellcheck' (registered filters:" in done.stderr and "near_duplicate" in done.stderr
    config.write_text("response_min_words: 300\nresponse_max_words: 200\n", encoding="utf-8")
    done = sit_filter("--input", raw, "--output-dir", tmp_path / "out", "--config", config)
    assert done.returncode == 2 and "response_min_words (300) is greater than response_max_words (200)" in done.stderr


def test_bad_thresholds_from_set(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl")
    done = sit_filter("--input", raw, "--output-dir", tmp_path / "out", "--set", "filtering.jaccard_threshold=1.5")
    assert done.returncode == 2 and "jaccard_threshold: 1.5 is above the maximum 1.0" in done.stderr
    done = sit_filter("--input", raw, "--output-dir", tmp_path / "out", "--target", "-3")
    assert done.returncode == 2 and "target: -3 is below the minimum 1" in done.stderr


def test_config_file_and_set_apply(tmp_path):
    raw, out = write_raw(tmp_path / "raw.jsonl"), tmp_path / "out"
    config = tmp_path / "filtering.yaml"
    config.write_text("pipeline: [length]\nselection: all\n", encoding="utf-8")
    done = sit_filter("--input", raw, "--output-dir", out, "--config", config,
                      "--set", "filtering.response_min_words=1")
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["pipeline"] == ["length"] and report["filters"][0]["removed"] == 1  # only the empty response
    assert report["output"] == 12


def test_workspace_form(tmp_path):
    missing = sit_filter("--workspace", tmp_path, "--profile", "demo")
    assert missing.returncode == 2
    assert "notebook 01" in missing.stderr and str(tmp_path / "data" / "raw" / "magpie.jsonl") in missing.stderr
    write_raw(tmp_path / "data" / "raw" / "magpie.jsonl")
    done = sit_filter("--workspace", tmp_path, "--profile", "demo", "--set", "filtering.target=3")
    assert done.returncode == 0, done.stderr
    filtered = tmp_path / "data" / "filtered"
    report = json.loads((filtered / "report.json").read_text())
    assert report["output"] == 3 and report["selection"]["mode"] == "longest"
    manifest = json.loads((filtered / "manifest.json").read_text())
    assert manifest["profile"] == "demo" and manifest["config"]["response_max_words"] == 120


def test_file_form_needs_both_paths(tmp_path):
    done = sit_filter("--input", write_raw(tmp_path / "raw.jsonl"))
    assert done.returncode == 2 and "needs both --input and --output-dir" in done.stderr
