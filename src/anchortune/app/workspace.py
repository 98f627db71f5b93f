"""A studio's state: its configuration, data folder (files/, runs/, reports/, downloads/), store, loaded chat
models, background checks and download builds. State only: what a user does with it lives in the resource modules beside this one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from anchortune import settings
from anchortune.errors import NotFoundError
from anchortune.jobs.checks import BackgroundChecks
from anchortune.jobs.store import Store


BACKGROUND_NICE = 10  # checks and builds run at a lower CPU priority than the threads that answer requests


@dataclass
class StudioConfig:
    """How one studio is set up; `models` maps extra model ids to local folders or files."""

    data_dir: Path
    database_url: str | None = None
    token: str | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    models: dict[str, str] = field(default_factory=dict)
    default_model: str | None = None
    lease_s: float = 60.0
    # Host names requests may carry besides the loopback names (the bound address, a proxy's name; "*": any)
    allowed_hosts: tuple[str, ...] = ()
    # files with at least this many rows are checked on the check thread, the page showing its progress
    background_rows: int = 10_000
    # python graders (evaluate/graders.py) run the job's own code in a limited child process: off unless the
    # operator enables them (`anchortune serve --python-graders`)
    python_graders: bool = False

    @classmethod
    def from_env(cls, **overrides) -> "StudioConfig":
        values = {"data_dir": settings.studio_dir(), "database_url": settings.database_url(),
                  "token": settings.api_token(), "lease_s": settings.lease_seconds()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def own_addresses() -> tuple[str, ...]:
    """This machine's own host names and addresses (what a studio bound to every address is reached by)."""
    import socket

    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    return tuple(sorted(n for n in names if n and n not in ("localhost",)))


def found(row: dict | None, missing: str) -> dict:
    """A stored row, or the NotFoundError saying what is `missing`."""
    if row is None:
        raise NotFoundError(missing)
    return row


class Workspace:
    """One studio's store, data folder, pool of chat models, background quality checks and download builds."""

    def __init__(self, config: StudioConfig):
        from anchortune.app.chat import ChatPool

        self.config = config
        self.data = Path(config.data_dir)
        for sub in ("files", "runs", "reports", "downloads"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        self._clear_stale_uploads()
        self.store = Store(config.database_url) if config.database_url else Store.sqlite(self.data / "anchortune.db")
        self.chats = ChatPool()
        self.checks = BackgroundChecks(nice=BACKGROUND_NICE)
        self.builds = BackgroundChecks(nice=BACKGROUND_NICE)  # downloads and exports, one at a time beside the checks

    def _clear_stale_uploads(self, older_than_s: float = 3600.0) -> None:
        """Remove what uploads killed while being written or checked left behind (a process that shares this
        folder may be writing one now: only parts untouched for an hour go)."""
        now = time.time()
        for stale in (self.data / "files").glob(".*.part*"):
            with contextlib.suppress(OSError):
                if now - stale.stat().st_mtime > older_than_s:
                    stale.unlink()
