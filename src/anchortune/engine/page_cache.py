"""How much freed memory a training keeps for reuse: the allocator's page cache, bounded step by step.

The process's jemalloc keeps freed pages mapped (its policy, set once at the process's start: allocator.py), so
the next micro-batch's activations reuse them instead of faulting fresh zeroed pages in (~0.7 GB a step on the
bench model). Left alone, that cache only grows: the sizes of packed rows vary from step to step and freed blocks
do not always fit the next requests (bench run, seed 0, pages kept for the whole process: peak RSS 1.74 -> 2.55
GB). `PageCache` hands the cached pages back at the end of any step after which the process holds more than it did
right after the training's first step plus SLACK_SHARE of that, and before and after every evaluation (whose rows
have other sizes), so the cache holds about what a few training steps' rows need; at the training's end it hands
everything back (export and the comparisons after training allocate other sizes still). It changes no setting of
the allocator: handing pages back is all it does.

The bound is read from the process's resident memory after the first step (freed pages are still mapped then, so
that is about the step's peak), not from the process's lifetime peak, which in a long-lived studio server holds
whatever an earlier job or model load reached. Two runs in one process bound the one cache they share: that costs
speed (pages handed back sooner), never numbers.

The slack was 64 MiB at first: in the bench run (seed 0) the process's resident memory after a step drifts from
~1.39 GB after the first step to ~1.6-1.8 GB with every page kept (rows of other sizes leave blocks the next
rows do not fit), so that bound was passed after nearly every step and each step faulted ~100k pages (~0.4 GB)
in again. With a quarter of the first step's peak it is passed after a few steps of a run; recorded per step in
the same run: ~100k -> ~0 faults on steps that release nothing, and 798 -> ~850-920 trained tokens/s over the
run (the machine's own drift between runs is ~±5 %); the training's peak RSS 1.77 -> 1.80 GB.
"""

from __future__ import annotations

from transformers import TrainerCallback

from anchortune import allocator

SLACK_SHARE = 0.25  # the cache may grow past the first step's peak by this share of it
SLACK_BYTES = 64 * 2**20  # and by at least this much


class PageCache(TrainerCallback):
    """Bounds the allocator's cache at step ends; `release()` around evaluations (see the module docstring)."""

    def __init__(self):
        self.limit: int | None = None
        self.releases = 0

    def release(self) -> None:
        if allocator.release():
            self.releases += 1

    def open(self) -> None:
        """A training starts (engine/engaged.py opens it as a run enters the engine): its bound is measured anew."""
        self.limit = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.limit is None:
            held = allocator.resident_bytes()
            self.limit = held + max(SLACK_BYTES, int(held * SLACK_SHARE))
        elif allocator.resident_bytes() > self.limit:
            self.release()

    def close(self) -> None:
        """The cache handed back (the engine calls it on any exit)."""
        self.release()

    def on_train_end(self, args, state, control, **kwargs):
        self.close()
