"""Packaging, requirements, notebook hygiene and the demo plan: what a fresh clone and Colab rely on."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from sit.hygiene import check, check_notebook, fix
from sit.project import colab_url, release_ref, repository_url, setup_cell

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
    good = [_cell("markdown", f"# T\n[badge]({colab_url(ROOT, '01_x.ipynb')})"),
            _cell("code", "A = 1", ["parameters"]), _cell("code", setup_cell(ROOT))]
    assert check_notebook(_notebook(tmp_path, "01_x.ipynb", good), tmp_path) == []
    two_params = good + [_cell("code", "B = 2", ["parameters"])]
    assert "2 cells tagged 'parameters'" in check_notebook(_notebook(tmp_path, "01_x.ipynb", two_params), tmp_path)[0]
    outputs = good[:2] + [_cell("code", setup_cell(ROOT), outputs=[{"output_type": "stream", "text": "x"}])]
    assert "committed with outputs" in check_notebook(_notebook(tmp_path, "01_x.ipynb", outputs), tmp_path)[0]
    wrong_badge = [_cell("markdown", "# T")] + good[1:]
    assert "badge" in check_notebook(_notebook(tmp_path, "01_x.ipynb", wrong_badge), tmp_path)[0]
    assert "name must look like" in check_notebook(_notebook(tmp_path, "Magpie.ipynb", good), tmp_path)[0]
    moving = good[:2] + [_cell("code", setup_cell(ROOT).replace(f'"{release_ref(ROOT)}"', '"main"'))]
    assert "setup cell" in check_notebook(_notebook(tmp_path, "01_x.ipynb", moving), tmp_path)[0]


def test_every_notebook_installs_its_own_release_with_the_one_setup_cell():
    """One source (pyproject's Repository URL and version), one cell text, a pinned tag, never torch."""
    cells = {}
    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        cells[path.name] = ["".join(c["source"]) for c in code if "REPO_URL" in "".join(c["source"])]
    assert len(cells) == 7 and all(found == [setup_cell(ROOT)] for found in cells.values()), cells
    cell = setup_cell(ROOT)
    assert f'REPO_URL, REPO_REF = "{repository_url(ROOT)}", "v' in cell and 'branch = ["-b", REPO_REF]' in cell
    assert '"google.colab" in sys.modules' in cell and "torch" not in cell.split("import sys", 1)[1]
    assert not [r for r in _requirements("requirements-nodeps.txt") if r.name.lower() == "torch"]
    assert release_ref(ROOT) == "v" + re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(),
                                                re.MULTILINE).group(1)


def test_a_fork_changes_one_line_and_the_fix_rewrites_setup_cells_and_badges(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    before = {p.name: json.loads(p.read_text())["cells"] for p in (tmp_path / "notebooks").glob("*.ipynb")}
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(repository_url(ROOT), "https://github.com/alice/sit-fork"))
    problems = check(tmp_path)
    assert sum("setup cell" in p for p in problems) == 7 and sum("badge" in p for p in problems) == 14
    assert len(fix(tmp_path)) == 8 and check(tmp_path) == []
    for path in (tmp_path / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert f"github/alice/sit-fork/blob/{release_ref(ROOT)}/notebooks/{path.name}" in "".join(cells[0]["source"])
        changed = [i for i, (a, b) in enumerate(zip(before[path.name], cells, strict=True)) if a != b]
        assert changed == [0, 2], path.name  # the title's badge and the setup cell, nothing else
    assert "github/alice/sit-fork/blob/" in (tmp_path / "README.md").read_text()


def test_cli_lists_every_phase_and_reports_errors_in_one_line(tmp_path):
    sit = str(Path(sys.executable).with_name("sit"))
    out = subprocess.run([sit, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("toy-world", "generate", "plan", "run-all"):
        assert re.search(rf"\b{command}\b", out), command
    bad = subprocess.run([sit, "generate", "--profile", "nope", "--workspace", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "sit generate: error: unknown profile 'nope'. Known profiles: auto, colab_t4, demo, smol"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_defaults_to_auto_profile_and_default_workspace(notebook):
    import papermill

    params = papermill.inspect_notebook(str(notebook))
    assert params["PROFILE"]["default"].strip("'\"") == "auto"
    assert params["WORKSPACE"]["default"] == "None" and params["SEED"]["default"] == "42"


def _git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env=_git_env(cwd)).stdout.strip()


def _run_setup_clone(remote: str, checkout: Path, monkeypatch, capsys) -> str:
    """The setup cell's clone step, exactly as written, on Colab (faked), from ``remote`` into ``checkout``;
    returns what it printed. The install step after it is not run."""
    cell = setup_cell(ROOT)
    clone, install = cell.split('\n    subprocess.run("cd /content/sit', 1)
    assert "pip install" in install  # the step cut off is the install, nothing before it
    code = clone.replace(f'"{repository_url(ROOT)}"', repr(remote)).replace("/content/sit", str(checkout))
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    exec(compile(code, "setup cell", "exec"), {})
    return capsys.readouterr().out


@pytest.fixture
def project_remote(tmp_path):
    """A real git repository (this version's pyproject.toml, two commits), served by file://, without any tag."""
    work, remote = tmp_path / "work", tmp_path / "remote.git"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "release candidate", cwd=work)
    _git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    _git("remote", "add", "origin", remote.as_uri(), cwd=work)
    _git("push", "-q", "origin", "main", cwd=work)
    _git("--git-dir", str(remote), "symbolic-ref", "HEAD", "refs/heads/main", cwd=tmp_path)
    return work, remote


def test_setup_cell_without_the_release_tag_installs_the_default_branch_and_says_so(project_remote, tmp_path,
                                                                                      monkeypatch, capsys):
    work, remote = project_remote
    printed = _run_setup_clone(remote.as_uri(), tmp_path / "sit", monkeypatch, capsys)
    assert _git("rev-parse", "HEAD", cwd=tmp_path / "sit") == _git("rev-parse", "HEAD", cwd=work)
    assert f"has no tag {release_ref(ROOT)}" in printed and "default branch" in printed, printed


def test_make_release_tags_the_version_and_the_setup_cell_then_installs_that_tag(project_remote, tmp_path,
                                                                                 monkeypatch, capsys):
    """The README's release step (``make release`` runs ``python -m sit.release``) on a clean checkout."""
    work, remote = project_remote
    tagged = _git("rev-parse", "HEAD", cwd=work)
    release = [sys.executable, "-m", "sit.release", "--root", str(work)]
    done = subprocess.run(release, capture_output=True, text=True, env={**_git_env(work), "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    assert release_ref(ROOT) in done.stdout
    (work / "later.txt").write_text("after the release")
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "after the release", cwd=work)
    _git("push", "-q", "origin", "main", cwd=work)
    printed = _run_setup_clone(remote.as_uri(), tmp_path / "sit", monkeypatch, capsys)
    assert _git("rev-parse", "HEAD", cwd=tmp_path / "sit") == tagged and "no tag" not in printed
    again = subprocess.run(release, capture_output=True, text=True, env={**_git_env(work), "PYTHONPATH": str(ROOT / "src")})
    assert again.returncode != 0 and f"{release_ref(ROOT)} already exists" in again.stderr, again.stderr
    assert "make release" in (ROOT / "README.md").read_text()
    assert re.search(r"^release:.*\n\t.*-m sit\.release", (ROOT / "Makefile").read_text(), re.MULTILINE)


def _git_env(home: Path) -> dict:
    return {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": "/usr/bin:/bin", "HOME": str(home)}
