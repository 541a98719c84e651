"""Shared fixtures. The toy world is built once (cached by content hash, shared with `make demo`)."""

import pytest


@pytest.fixture(scope="session")
def toy_world():
    from sit.toy import ensure_toy_world

    return ensure_toy_world()
