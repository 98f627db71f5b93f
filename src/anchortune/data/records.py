"""The anchor point record every file shape is normalised into; knows nothing about files or tokens.

A tool-calling conversation is an anchor point too: its assistant turns may carry `tool_calls` (arguments held as
JSON objects, the form chat templates render), `tool` turns hold results, and `tools` the functions offered
(data/tool_calls.py reads them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


# the field (or CSV column) names a row's prompt, answer and label go by
PROMPT_KEYS = ("prompt", "question", "text", "input")
ANSWER_KEYS = ("completion", "output", "response", "answer")
LABEL_KEYS = ("label", "intent")


def call_text(calls: list[dict]) -> str:
    """Tool calls as one line each, `name({"arg": value})`: how a person (and the gate's text detectors) reads
    what an assistant turn that calls tools says."""
    return "\n".join(f"{c['function']['name']}({json.dumps(c['function'].get('arguments') or {}, ensure_ascii=False, sort_keys=True)})"
                     for c in calls)


def message_text(message: dict) -> str:
    """What a turn says: its content, then its tool calls as text."""
    parts = [message.get("content") or ""]
    if message.get("tool_calls"):
        parts.append(call_text(message["tool_calls"]))
    return "\n".join(p for p in parts if p)


def message_json(message: dict) -> dict:
    """A turn as OpenAI's chat format writes it: tool-call arguments as a JSON string."""
    out = dict(message)
    if message.get("tool_calls"):
        out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.dumps(
            c["function"].get("arguments") or {}, ensure_ascii=False)}} for c in message["tool_calls"]]
    return out


def missing_turn(messages: list[dict], need_answer: bool) -> str | None:
    """What a conversation lacks to be learned from (an assistant answer where one is needed, a user turn), or
    None."""
    if need_answer and not any(m["role"] == "assistant" for m in messages):
        return "the conversation has no assistant answer to learn from"
    if not any(m["role"] == "user" for m in messages):
        return "the conversation has no user turn"
    return None


@dataclass(frozen=True)
class AnchorPoint:
    """One example: a conversation whose assistant turns are what the model learns.

    `line` is the 1-based line (JSONL) or row (CSV, header = line 1) it came from, so every later
    finding can point back to it. `label` is the class or intent when the data names one. `tools` are the
    functions the conversation offers the model (OpenAI's `{"type": "function", "function": {...}}`), empty for
    a plain conversation. `extra` holds a chat row's other top-level fields as the file gave them (OpenAI's
    reinforcement data: an id, a worked solution, the fields a grader reads as `{{item.field}}`), written back with
    the row.
    """

    messages: tuple[dict, ...]
    line: int
    label: str | None = None
    extra: dict = field(default_factory=dict, compare=False)
    tools: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def prompt(self) -> str:
        """The last user turn before the final answer (what a single-turn example asks)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def answer(self) -> str:
        """The final assistant turn (what a single-turn example answers); its tool calls as text."""
        answers = [m for m in self.messages if m["role"] == "assistant"]
        return message_text(answers[-1]) if answers else ""

    @property
    def final_turn(self) -> dict | None:
        """The final assistant turn itself (content and tool calls), or None."""
        return next((m for m in reversed(self.messages) if m["role"] == "assistant"), None)

    def to_json(self) -> dict:
        out: dict = {**self.extra, "messages": [message_json(m) for m in self.messages]}
        if self.tools:
            out["tools"] = [dict(t) for t in self.tools]
        if self.label is not None:
            out["label"] = self.label
        return out


def from_pair(prompt: str | None, answer: str | None, line: int, label: str | None) -> AnchorPoint | None:
    """A single-turn anchor point (None where either side is missing: a problem already named)."""
    if prompt is None or answer is None:
        return None
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}),
                       line, label)
