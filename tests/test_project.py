"""Packaging, requirements, notebook hygiene and the demo plan: what a fresh clone and Colab rely on."""

import json
import re
import subprocess
import sys
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from sit.hygiene import check, check_notebook
from sit.project import colab_url, repository_url

ROOT = Path(__file__).resolve().parents[1]


def _requirements(name):
    lines = (ROOT / name).read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_never_install_torch_and_accept_colabs_torch():
    reqs = _requirements("requirements.txt")
    assert "torch" not in {r.name.lower() for r in reqs}
    constraints = []
    for req in reqs:  # what the pinned packages themselves demand of torch
        for dep in requires(req.name) or []:
            dep = Requirement(dep)
            if dep.name == "torch" and (dep.marker is None or dep.marker.evaluate({"extra": ""})):
                constraints.append(dep.specifier)
    for colab_torch in ("2.6.0", "2.8.0", "2.9.1"):
        assert all(Version(colab_torch) in spec for spec in constraints), (colab_torch, constraints)


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for req in _requirements("requirements.txt") + _requirements("requirements-dev.txt"):
        assert req.specifier.contains(version(req.name), prereleases=True), req


def test_wheel_ships_the_configs(tmp_path):
    """Colab installs a built wheel (not the checkout): the registry and profiles must be inside."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("synthetic_instruction_tuner-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"sit/configs/models.yaml", "sit/configs/profiles.yaml"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "sit = sit.cli:main" in entry_points


def test_committed_notebooks_and_readme_pass_hygiene():
    assert check(ROOT) == []
    assert len(list((ROOT / "notebooks").glob("0*.ipynb"))) >= 1


def _notebook(tmp_path, name, cells):
    path = tmp_path / "notebooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    return path


def _cell(kind, source, tags=(), outputs=None):
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": source}
    if kind == "code":
        cell.update(outputs=outputs or [], execution_count=1 if outputs else None)
    return cell


def test_hygiene_catches_each_broken_rule(tmp_path):
    url = repository_url(ROOT)
    good = [_cell("markdown", f"# T\n[badge]({colab_url(ROOT, '01_x.ipynb')})"),
            _cell("code", "A = 1", ["parameters"]), _cell("code", f'REPO_URL = "{url}"')]
    assert check_notebook(_notebook(tmp_path, "01_x.ipynb", good), tmp_path) == []
    two_params = good + [_cell("code", "B = 2", ["parameters"])]
    assert "2 cells tagged 'parameters'" in check_notebook(_notebook(tmp_path, "01_x.ipynb", two_params), tmp_path)[0]
    outputs = good[:2] + [_cell("code", f'REPO_URL = "{url}"', outputs=[{"output_type": "stream", "text": "x"}])]
    assert "committed with outputs" in check_notebook(_notebook(tmp_path, "01_x.ipynb", outputs), tmp_path)[0]
    wrong_badge = [_cell("markdown", "# T")] + good[1:]
    assert "badge" in check_notebook(_notebook(tmp_path, "01_x.ipynb", wrong_badge), tmp_path)[0]
    assert "name must look like" in check_notebook(_notebook(tmp_path, "Magpie.ipynb", good), tmp_path)[0]


def test_cli_lists_every_phase_and_reports_errors_in_one_line(tmp_path):
    sit = str(Path(sys.executable).with_name("sit"))
    out = subprocess.run([sit, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("toy-world", "generate", "plan", "run-all"):
        assert re.search(rf"\b{command}\b", out), command
    bad = subprocess.run([sit, "generate", "--profile", "nope", "--workspace", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "sit generate: error: unknown profile 'nope'. Known profiles: auto, colab_t4, demo"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_defaults_to_auto_profile_and_default_workspace(notebook):
    import papermill

    params = papermill.inspect_notebook(str(notebook))
    assert params["PROFILE"]["default"].strip("'\"") == "auto"
    assert params["WORKSPACE"]["default"] == "None" and params["SEED"]["default"] == "42"
