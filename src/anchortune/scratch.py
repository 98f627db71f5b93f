"""Writes that are not whole yet, and what undoes each if the process is stopped before it is.

Atomic writers (a temporary file or folder renamed into place) and the run that creates a folder register here while
they work, and clean up after themselves when they unwind. A command stopped by SIGTERM or SIGINT whose work does not
come back to Python in time (cli/stopping.py) calls `discard` before it exits, so nothing half-written stays behind
then either. Knows nothing about what the paths hold.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_pending: dict[int, Callable[[], None]] = {}
_keys = itertools.count()
_lock = threading.Lock()


@contextmanager
def pending(undo: str | Path | Callable[[], None]) -> Iterator[None]:
    """While the block runs, `undo` (a temporary file or folder, or a function that cleans up) is what `discard`
    removes or calls."""
    action = undo if callable(undo) else (lambda path=Path(undo): remove(path))
    key = next(_keys)
    with _lock:
        _pending[key] = action
    try:
        yield
    finally:
        with _lock:
            _pending.pop(key, None)


def remove(path: Path) -> None:
    """Remove a file or a folder with what it holds, quietly (it may be gone already)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def discard() -> None:
    """Undo every pending write, newest first: the process is about to exit without unwinding."""
    with _lock:
        actions = list(_pending.values())[::-1]
        _pending.clear()
    for action in actions:
        try:
            action()
        except Exception:  # noqa: BLE001  (one failed clean-up must not keep the others from running)
            pass
