"""Events training emits to its caller's callback: the engine never prints and never writes files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Literal


@dataclass(frozen=True)
class Event:
    """One thing that happened: `kind` says which; `data` holds its numbers."""

    kind: Literal["start", "stage", "progress", "train", "eval", "info", "warning", "done"]
    step: int
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


EventSink = Callable[[Event], None]


def ignore(_: Event) -> None:
    """A sink that drops every event."""
