"""Shared fixtures. The toy world is built once (cached by content hash, shared with `make demo`), and so is
the whole demo pipeline: every test that reads what a user's `make demo` leaves shares one run.

`make test` runs the notebooks last, in the fresh workspace named by ``SIT_WORKSPACE``. The demo run goes
there when it is still empty: its `sit run-all` has executed every notebook from scratch with papermill, so
nbval then runs them top to bottom as a user who reopens a finished workspace does, resuming every step,
instead of training and evaluating the toy world a second time.

With pytest-xdist (`make test` runs two workers) each test file runs on one worker, so a module's fixtures
are built once, and every test of the demo run goes to the same worker, first: it takes longest, and
the other worker runs the rest of the suite meanwhile."""

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        # Inherited by every subprocess and kernel a test starts: workers that each used every core
        # would spin against each other in OpenMP.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def _reads_the_demo_run(item) -> bool:
    return "demo_run" in getattr(item, "fixturenames", ())  # nbval's cells have no fixtures


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group("demo_run" if _reads_the_demo_run(item) else item.path.name))
    items.sort(key=lambda item: not _reads_the_demo_run(item))


@pytest.fixture(scope="session")
def toy_world():
    from sit.toy import ensure_toy_world

    return ensure_toy_world()


def _fresh_test_workspace() -> Path | None:
    shared = os.environ.get("SIT_WORKSPACE")
    if shared and Path(shared).is_dir() and not any(p.is_file() for p in Path(shared).rglob("*")):
        return Path(shared)
    return None


@dataclass
class DemoRun:
    workspace: Path
    secret: str  # the canary HF_TOKEN the pipeline ran with
    printed: list[str]  # stdout + stderr of each command


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, toy_world) -> DemoRun:
    """`make demo`'s three commands (run-all, report, publish dry run) in a fresh workspace, with a canary token."""
    secret = f"hf_canary{uuid.uuid4().hex}"
    workspace = _fresh_test_workspace() or tmp_path_factory.mktemp("demo") / "ws"
    env = {**os.environ, "HF_TOKEN": secret, "HF_HUB_OFFLINE": "1"}
    sit = str(Path(sys.executable).with_name("sit"))
    printed = []
    for command in ([sit, "run-all", "--profile", "demo", "--workspace", str(workspace)],
                    [sit, "report", "--profile", "demo", "--workspace", str(workspace)],
                    [sit, "publish", "--profile", "demo", "--workspace", str(workspace), "--dry-run"]):
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-4000:])
        printed.append(done.stdout + done.stderr)
    return DemoRun(workspace, secret, printed)
