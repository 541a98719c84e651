"""Shared fixtures, and how `make test` spreads the suite over two pytest-xdist workers.

The toy world is built once (cached by content hash, shared with `make demo`).

Work goes to the workers a test file at a time, so a module's fixtures are built once. The demo run
(``test_demo_run.py``) and the notebooks form one unit: nbval runs the notebooks after it, top to
bottom in the workspace it finished, as a user who reopens that workspace does. That unit takes longest,
so it starts first, and the slowest files follow, so that neither worker ends on a long one.
"""

import os

import pytest

DEMO_UNIT = ("tests/test_demo_run.py", "notebooks/")
SLOWEST_FILES = ("test_training.py", "test_toy_world.py", "test_eval_toy.py", "test_real_model.py",
                 "test_generation.py", "test_preference.py", "test_plan.py", "test_runall.py", "test_eval_real_path.py",
                 "test_runall_ddp.py")


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        # Inherited by every subprocess and kernel a test starts: workers that each used every core
        # would spin against each other in OpenMP.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def _rank(item) -> int:
    for rank, prefix in enumerate(DEMO_UNIT):
        if item.nodeid.startswith(prefix):
            return rank
    name = item.path.name
    return len(DEMO_UNIT) + (SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES))


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: the notebooks stay in order 01 -> 07, and so does every file's tests


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class DemoUnitFirst(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "demo run" if nodeid.startswith(DEMO_UNIT) else super()._split_scope(nodeid)

    return DemoUnitFirst(config, log)


@pytest.fixture(scope="session")
def toy_world():
    from sit.toy import ensure_toy_world

    return ensure_toy_world()
