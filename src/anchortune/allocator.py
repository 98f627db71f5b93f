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

ENV = "ANCHORTUNE_ALLOCATOR"
_DONE = "_ANCHORTUNE_ALLOCATOR_SET"  # set in the re-executed process: never loop
# freed pages go back to the kernel after 2 s, by jemalloc's own thread (default 10 s): -25 to -60 MB peak
# in a 40-step loop at the same speed; a decay of 0 halved the speed. While a training runs, engine/page_cache.py
# keeps freed pages mapped instead (`keep_freed_pages`). One arena (jemalloc's default is 4 per core): torch's
# OpenMP workers allocate too, and each arena keeps a cache of its own; in the bench run (seed 0, pages kept
# while training) the resident memory after a step then drifted up to 1.77 GB instead of 1.87 GB.
# A MALLOC_CONF of the user's wins.
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:2000,muzzy_decay_ms:0,narenas:1"


def library() -> str | None:
    """The allocator library to preload, or None (not Linux, not installed, or the user chose 'system')."""
    choice = os.environ.get(ENV, "auto").strip() or "auto"
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
    env = dict(os.environ if env is None else env)
    lib = library()
    if lib and lib not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = " ".join(p for p in (lib, env.get("LD_PRELOAD", "")) if p)
    if lib and "jemalloc" in lib:
        env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    env[_DONE] = "1"
    return env


def reexec() -> None:
    """Re-run this command with the allocator preloaded (once); return quietly when that is not possible."""
    if os.environ.get(_DONE) or active() or not library():
        return
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    try:
        os.execve(sys.executable, [sys.executable, *argv[1:]], preload_env())
    except OSError:
        os.environ[_DONE] = "1"  # stay on the system allocator


_MALLCTL: dict = {}  # "mallctl": jemalloc's control function in this process, or None; "muzzy": its setting


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


def keep_freed_pages(keep: bool) -> bool:
    """While `keep`, jemalloc hands freed pages to the kernel only lazily (MADV_FREE: they stay mapped and are
    reused without a fault) and never forcibly, until `release`; then its configured muzzy decay again.

    jemalloc's decay counts only the growth of its cache, so under the steady reuse of a training every freed
    page ages out and is purged: with the default purge a step faulted in ~150-200k pages (~0.7 GB) that the
    step before had freed (step loop, bench model: 890 -> 970 trained tokens/s while kept). False where this
    process does not run on jemalloc."""
    mallctl = _mallctl()
    if mallctl is None:
        return False
    value, size = ctypes.c_ssize_t(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_ssize_t))
    if "muzzy" not in _MALLCTL:
        if mallctl(b"arenas.muzzy_decay_ms", ctypes.byref(value), ctypes.byref(size), None, ctypes.c_size_t(0)):
            return False
        _MALLCTL["muzzy"] = value.value
    value.value = -1 if keep else _MALLCTL["muzzy"]
    count, count_size = ctypes.c_uint(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_uint))
    mallctl(b"arenas.narenas", ctypes.byref(count), ctypes.byref(count_size), None, ctypes.c_size_t(0))
    names = [b"arenas.muzzy_decay_ms"] + [f"arena.{i}.muzzy_decay_ms".encode() for i in range(count.value)]
    for name in names:  # the default for arenas made later, and each arena made so far (unused ones refuse)
        mallctl(name, None, None, ctypes.byref(value), size)
    return True


def resident_bytes() -> int:
    """This process's resident memory now, in bytes (0 where /proc is not there)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
