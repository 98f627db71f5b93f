"""The anchor point record every file shape is normalised into; knows nothing about files or tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class AnchorPoint:
    """One example: a conversation whose assistant turns are what the model learns.

    `line` is the 1-based line (JSONL) or row (CSV, header = line 1) it came from, so every later
    finding can point back to it. `label` is the class or intent when the data names one.
    """

    messages: tuple[dict[str, str], ...]
    line: int
    label: str | None = None
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def prompt(self) -> str:
        """The last user turn before the final answer (what a single-turn example asks)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def answer(self) -> str:
        """The final assistant turn (what a single-turn example answers)."""
        answers = [m["content"] for m in self.messages if m["role"] == "assistant"]
        return answers[-1] if answers else ""

    def to_json(self) -> dict:
        out: dict = {"messages": [dict(m) for m in self.messages]}
        if self.label is not None:
            out["label"] = self.label
        return out
