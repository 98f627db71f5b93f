"""What one run's fast parts keep and switch while the run computes in this thread: the engine plan it entered,
the caches (LM-head casts, the head's chunk buffers, causal mask biases), its optimizer steps (grouped LoRA operands
are made again after each) and whether the compiled kernels run.

A run session owns one `EngineContext` and hands it to engine/engaged.py, which makes it this thread's context for
the time the run is engaged (`active`); the parts read it with `current()`. It dies with its session: nothing a run
keeps is held by a module, and two runs in two threads of one process (the studio's workers) never see each other's.
Outside any engaged run `current()` is None and the parts keep nothing between calls. Knows nothing of the parts.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

_CURRENT: contextvars.ContextVar[EngineContext | None] = contextvars.ContextVar("anchortune_engine", default=None)


@dataclass
class EngineContext:
    """One run's engine state (see the module docstring); `plan` and `kernels` are set while it is engaged."""

    casts: dict = field(default_factory=dict)  # id(weight) -> (weak ref, version, dtype, cast copy)
    buffers: dict = field(default_factory=dict)  # (name) -> reused [CHUNK x width] tensor of the LM head
    masks: dict = field(default_factory=dict)  # (keys, group, dtype, device, window) -> additive causal bias
    steps: int = 0  # optimizer steps the run has taken
    plan: object = None  # engine/paths.py's EnginePlan of the engagement open now
    kernels: bool = True  # whether the compiled kernels (engine/native.py) may run

    def stepped(self) -> None:
        """An optimizer step was taken: cached operands of the trained weights are stale."""
        self.steps += 1

    def clear(self) -> None:
        """Drop every cache (the session closes; or a run leaves the engine)."""
        self.casts.clear()
        self.buffers.clear()
        self.masks.clear()


def current() -> EngineContext | None:
    """The engine context of the run engaged in this thread, or None."""
    return _CURRENT.get()


@contextlib.contextmanager
def active(context: EngineContext):
    """Within this block `context` is this thread's engine context (the one before it again afterwards)."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
