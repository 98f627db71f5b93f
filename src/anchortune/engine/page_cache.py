"""How much freed memory a training keeps for reuse: the allocator's page cache, bounded step by step.

From the training's start to its end the process's jemalloc keeps freed pages mapped
(allocator.keep_freed_pages), so the next micro-batch's activations reuse them instead of faulting fresh zeroed
pages in (~0.7 GB a step on the bench model). Left alone, that cache only grows: the sizes of packed rows vary
from step to step and freed blocks do not always fit the next requests (bench run, seed 0, pages kept for the
whole process: peak RSS 1.74 -> 2.55 GB). `PageCache` hands the cached pages back at the end of any step after
which the process holds more than its peak through the first step plus SLACK_SHARE of it, and before and after
every evaluation (whose rows have other sizes), so the cache holds about what a few training steps' rows need;
at the training's end it hands everything back and the allocator purges as configured again (export and the
comparisons after training allocate other sizes still).

The slack was 64 MiB at first: in the bench run (seed 0) the process's resident memory after a step drifts from
~1.39 GB after the first step to ~1.6-1.8 GB with every page kept (rows of other sizes leave blocks the next
rows do not fit), so that bound was passed after nearly every step and each step faulted ~100k pages (~0.4 GB)
in again. With a quarter of the first step's peak it is passed after a few steps of a run; recorded per step in
the same run: ~100k -> ~0 faults on steps that release nothing, and 798 -> ~850-920 trained tokens/s over the
run (the machine's own drift between runs is ~±5 %); the training's peak RSS 1.77 -> 1.80 GB.
"""

from __future__ import annotations

import resource

from transformers import TrainerCallback

from anchortune import allocator

SLACK_SHARE = 0.25  # the cache may grow past the first step's peak by this share of it
SLACK_BYTES = 64 * 2**20  # and by at least this much


def peak_bytes() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PageCache(TrainerCallback):
    """Bounds the allocator's cache at step ends; `release()` around evaluations (see the module docstring)."""

    def __init__(self):
        self.limit: int | None = None
        self.releases = 0

    def release(self) -> None:
        if allocator.release():
            self.releases += 1

    def open(self) -> None:
        """Freed pages kept mapped from now on (engine/paths.py's `engaged` opens it as a run enters the engine)."""
        allocator.keep_freed_pages(True)

    def on_train_begin(self, args, state, control, **kwargs):
        self.open()

    def on_step_end(self, args, state, control, **kwargs):
        if self.limit is None:
            peak = peak_bytes()
            self.limit = peak + max(SLACK_BYTES, int(peak * SLACK_SHARE))
        elif allocator.resident_bytes() > self.limit:
            self.release()

    def close(self) -> None:
        """The allocator's own purging again, and the cache handed back (the engine calls it on any exit)."""
        allocator.keep_freed_pages(False)
        self.release()

    def on_train_end(self, args, state, control, **kwargs):
        self.close()
