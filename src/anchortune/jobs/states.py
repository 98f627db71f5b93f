"""A job's life cycle: validating -> queued -> running -> succeeded | failed | cancelled.

A running job whose worker died goes back to `running` under the next worker (resumed from its last
checkpoint); it never goes back to queued. Cancelling is allowed from every state that is not final.
"""

from __future__ import annotations

VALIDATING, QUEUED, RUNNING = "validating", "queued", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

NEXT = {
    VALIDATING: {QUEUED, FAILED, CANCELLED},
    QUEUED: {RUNNING, CANCELLED, FAILED},
    RUNNING: {RUNNING, SUCCEEDED, FAILED, CANCELLED},
    SUCCEEDED: set(),
    FAILED: set(),
    CANCELLED: set(),
}

OPENAI_NAMES = {VALIDATING: "validating_files"}  # everything else is spelled as OpenAI spells it


LEVELS = ("info", "warn", "error")  # an event's level: OpenAI's fine-tuning event vocabulary, the only one stored
_LEVEL_NAMES = {"warning": "warn", "critical": "error", "debug": "info"}


def event_level(level: str) -> str:
    """One level vocabulary (LEVELS) for every event, whatever spelling its reporter used."""
    level = _LEVEL_NAMES.get(level, level)
    if level not in LEVELS:
        raise ValueError(f"event level {level!r}: expected one of {', '.join(LEVELS)}")
    return level


def can_move(current: str, target: str) -> bool:
    return target in NEXT.get(current, set())


def openai_status(status: str) -> str:
    return OPENAI_NAMES.get(status, status)
