"""Shared fixtures. The toy world is built once (cached by content hash, shared with `make demo`).

`make test` runs the tests on two pytest-xdist workers, one test file at a time each, so a module's
fixtures are built once. ``test_demo_run.py`` runs the whole pipeline and takes longest, so it goes first:
the other worker runs the rest of the suite meanwhile."""

import os

import pytest

LONGEST_FIRST = "test_demo_run.py"


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        # Inherited by every subprocess and kernel a test starts: workers that each used every core
        # would spin against each other in OpenMP.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name != LONGEST_FIRST)


@pytest.fixture(scope="session")
def toy_world():
    from sit.toy import ensure_toy_world

    return ensure_toy_world()
