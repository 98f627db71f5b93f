"""The tracking tests read runs back with the backends' own readers: the optional `track` extra (mlflow-skinny,
tensorboard: pure-Python wheels) must be installed; `make test` installs it. A missing one fails the test that needs
it with that said, never skips it (a run tracked nowhere would pass unseen)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def track_extra():
    missing = [name for name in ("mlflow", "tensorboard") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: the tracking tests need anchortune's [track] extra "
                    "(`make test` installs it; pip install -e '.[track]')", pytrace=False)
