"""How a command stops on SIGTERM or SIGINT: within 2 s, leaving nothing half-written.

The signal unwinds the command like Ctrl-C, so a run removes what it made and atomic writes drop their temporary
files; then the process ends at once (`finish`), without the seconds an interpreter with torch loaded spends shutting
down. Python runs a signal handler only between its own instructions, so a command deep in one long native call (a
tokenizer on a huge text, a matrix product) would not hear it for as long as that call runs: a watcher thread, woken
by the signal itself (signal.set_wakeup_fd), waits GRACE_S for the unwinding and then undoes every write still
pending (anchortune.scratch) and ends the process with EXIT_CODE.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from anchortune import scratch

EXIT_CODE = 130  # 128 + SIGINT, as shells report a stopped command
GRACE_S = 1.5  # the unwinding's time before the watcher ends the process (and the process's within 2 s)
STOPS = (signal.SIGTERM, signal.SIGINT)
_installed: list[bool] = []
_stopped: list[int] = []  # the signal that asked this process to stop, once one has


def install() -> None:
    """Make SIGTERM and SIGINT stop this process in time (once per process, from the main thread)."""
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    for number in STOPS:
        signal.signal(number, _unwind)
    threading.Thread(target=_watch, args=(read,), name="anchortune-stop", daemon=True).start()
    _installed.append(True)


def stopped() -> bool:
    """Whether a stopping signal has come."""
    return bool(_stopped)


def finish() -> None:
    """End a process whose command has unwound after a stopping signal: streams flushed, anything still pending
    undone, no interpreter shutdown."""
    scratch.discard()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_CODE)


def _unwind(signum, frame) -> None:
    _stopped.append(signum)
    raise KeyboardInterrupt


def _watch(fd: int) -> None:
    """Wait for a stopping signal, give the command GRACE_S to unwind, then end the process whatever it does."""
    while not any(byte in STOPS for byte in os.read(fd, 64)):
        pass
    _stopped.append(0)
    time.sleep(GRACE_S)
    scratch.discard()
    try:
        os.write(2, b"stopped\n")
    except OSError:
        pass
    os._exit(EXIT_CODE)
