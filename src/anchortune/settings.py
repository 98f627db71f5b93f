"""Process settings read from the environment, in one place; nothing else reads os.environ.

ANCHORTUNE_HOME      cache for prepared models (default ~/.cache/anchortune)
ANCHORTUNE_SHARED_DATA  third-party datasets for tests and benchmarks (default ../shared/datasets)
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Folder for anchortune's caches (prepared models); created on demand by its users."""
    raw = os.environ.get("ANCHORTUNE_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "anchortune"


def models_dir() -> Path:
    return home() / "models"


def shared_data() -> Path:
    """Where third-party datasets lie for tests and benchmarks (never shipped)."""
    raw = os.environ.get("ANCHORTUNE_SHARED_DATA")
    if raw:
        return Path(raw).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "datasets"


def hub_offline() -> bool:
    """True when the user asked transformers to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
