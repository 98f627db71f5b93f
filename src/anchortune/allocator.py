"""The process's memory allocator: jemalloc where the machine has it, chosen once at the command's start.

PyTorch on CPU allocates and frees activation-sized blocks at every step. glibc's malloc hands large
blocks back to the kernel and faults them in again, and fragments what it keeps; jemalloc reuses
them. On 2 CPU cores (SmolLM2-135M LoRA, bench/train_throughput.py) jemalloc trained ~15-25 % faster
and peaked ~1 GB lower than glibc (glibc with a raised mmap threshold: lower memory but ~20 % slower).
An allocator cannot be swapped inside a running process, so the command line re-executes itself once
with the library preloaded. ANCHORTUNE_ALLOCATOR=system keeps glibc; a path names another library.
Library users (`import anchortune`) get what their own process has; `preload_env` helps them launch.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

from anchortune import settings

ENV = "ANCHORTUNE_ALLOCATOR"
# The allocator's policy, decided here once for the process's life (never changed while a run runs: the studio
# trains in threads of the process that serves): freed pages go from dirty to lazily freed after 2 s, by
# jemalloc's own thread (default 10 s): -25 to -60 MB peak in a 40-step loop at the same speed; a decay of 0 halved
# the speed. Lazily freed pages (MADV_FREE) stay mapped and are reused without a fault, never forcibly purged
# (muzzy decay -1): with jemalloc's default purge a training step faulted in ~150-200k pages (~0.7 GB) that the step
# before had freed (step loop, bench model: 890 -> 970 trained tokens/s kept). The kernel takes them back under
# memory pressure, and engine/page_cache.py hands them back (`release`) past a bound during a training and at its
# end. One arena (jemalloc's default is 4 per core): torch's OpenMP workers allocate too, and each arena keeps a
# cache of its own; in the bench run (seed 0) the resident memory after a step then drifted up to 1.77 GB instead
# of 1.87 GB. A MALLOC_CONF of the user's wins.
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:2000,muzzy_decay_ms:-1,narenas:1"


def library() -> str | None:
    """The allocator library to preload, or None (not Linux, not installed, or the user chose 'system')."""
    choice = settings.allocator_choice()
    if choice == "system" or not sys.platform.startswith("linux"):
        return None
    if choice not in ("auto", "jemalloc"):
        return choice if Path(choice).is_file() else None
    return ctypes.util.find_library("jemalloc")


def active() -> str | None:
    """The preloaded allocator of this process (its mapped file name), if any."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    return next((line.split()[-1] for line in maps.splitlines() if "jemalloc" in line and "/" in line), None)


def preload_env(env: dict | None = None) -> dict:
    """`env` (default: this process's) with the allocator preloaded, for launching a child process."""
    env = dict(settings.environment() if env is None else env)
    lib = library()
    if lib and lib not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = " ".join(p for p in (lib, env.get("LD_PRELOAD", "")) if p)
    if lib and "jemalloc" in lib:
        env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    env[settings.ALLOCATOR_SET] = "1"  # the child never re-executes itself
    return env


def reexec() -> None:
    """Re-run this command with the allocator preloaded (once); return quietly when that is not possible."""
    if settings.allocator_chosen() or active() or not library():
        return
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    try:
        os.execve(sys.executable, [sys.executable, *argv[1:]], preload_env())
    except OSError:
        settings.mark_allocator_chosen()  # stay on the system allocator


_MALLCTL: dict = {}  # "mallctl": jemalloc's control function in this process, or None (looked up once)


def _mallctl():
    if "mallctl" not in _MALLCTL:
        _MALLCTL["mallctl"] = None
        if active():
            try:
                _MALLCTL["mallctl"] = ctypes.CDLL(None).mallctl
            except (AttributeError, OSError):
                pass
    return _MALLCTL["mallctl"]


RELEASE_TRIES = 20  # purges while unused pages remain, 10 ms apart


def release() -> bool:
    """Hand the allocator's cached free pages back to the system now (jemalloc: purge all arenas, 4096).

    jemalloc's background thread, woken by a large free, may be purging the same pages lazily at that moment:
    the pages it holds are not in the arenas' caches when the purge looks, and land there, unpurged, after it
    (seen in 1 of 6 runs: 256 MiB freed and none handed back). So the purge is repeated while the arenas' stats
    still count unused pages. False where this process does not run on jemalloc (glibc trims on its own)."""
    import time

    mallctl = _mallctl()
    if mallctl is None:
        return False
    purged = mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0)) == 0
    for _ in range(RELEASE_TRIES):
        if not _unused_pages(mallctl):
            break
        time.sleep(0.01)
        mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0))
    return purged


def _unused_pages(mallctl) -> int:
    """Dirty and muzzy pages the arenas hold (0 where jemalloc keeps no statistics)."""
    epoch = ctypes.c_uint64(1)
    mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.c_size_t(ctypes.sizeof(epoch)))
    total = 0
    for name in (b"stats.arenas.4096.pdirty", b"stats.arenas.4096.pmuzzy"):
        value, size = ctypes.c_size_t(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_size_t))
        if mallctl(name, ctypes.byref(value), ctypes.byref(size), None, ctypes.c_size_t(0)):
            return 0
        total += value.value
    return total


def resident_bytes() -> int:
    """This process's resident memory now, in bytes (0 where /proc is not there)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
