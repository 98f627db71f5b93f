"""Long quality checks in the background of the studio process: one at a time, progress kept in memory.

A check over many rows takes minutes (bench/quality_scale.py); a page request must not. The studio hands a
function that reports progress (stage, fraction) and writes its result itself (atomically, into the report
cache); this module runs those functions one after the other on a single thread (the gate uses every core),
never twice for one key, and answers how far each has come. A process that stops loses only the progress: the
next page visit starts the check again. Knows nothing about the gate or the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

Progress = Callable[[str, float], None]

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class CheckStatus:
    state: str = QUEUED
    stage: str = "waiting for another check to finish"
    fraction: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    error: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class BackgroundChecks:
    """Functions run one at a time on one thread; each key's latest status."""

    def __init__(self, nice: int = 0):
        from anchortune.jobs.worker import lower_priority

        # at a lower CPU priority than the threads that answer requests, as the embedded workers train
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-check",
                                        initializer=(lambda: lower_priority(nice)) if nice else None)
        self._lock = threading.Lock()
        self._status: dict[str, CheckStatus] = {}

    def submit(self, key: str, work: Callable[[Progress], None]) -> CheckStatus:
        """Start `work(progress)` under `key` unless it is queued or running already (a failed one starts again)."""
        with self._lock:
            status = self._status.get(key)
            if status is not None and status.state in (QUEUED, RUNNING):
                return status
            status = self._status[key] = CheckStatus()
        self._pool.submit(self._run, key, status, work)
        return status

    def status(self, key: str) -> CheckStatus | None:
        with self._lock:
            return self._status.get(key)

    def forget(self, key: str) -> None:
        """Drop a finished key's status (its result lives on where `work` wrote it)."""
        with self._lock:
            status = self._status.get(key)
            if status is not None and status.state in (DONE, FAILED):
                del self._status[key]

    def _run(self, key: str, status: CheckStatus, work: Callable[[Progress], None]) -> None:
        def progress(stage: str, fraction: float) -> None:
            status.stage, status.fraction = stage, max(status.fraction, min(1.0, fraction))

        status.state, status.started_at, status.stage = RUNNING, time.time(), "starting"
        try:
            work(progress)
        except Exception as exc:  # noqa: BLE001 - shown to the user on the page that waits for it
            from anchortune.errors import AnchortuneError

            status.error = str(exc) if isinstance(exc, AnchortuneError) else f"{type(exc).__name__}: {exc}"
            status.state = FAILED
        else:
            status.state, status.fraction, status.stage = DONE, 1.0, "done"
        finally:
            status.finished_at = time.time()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
