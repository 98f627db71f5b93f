"""Preference pairs: a prompt (a conversation ending in the user's turn) with a chosen and a rejected answer, read
from the common shapes and written back in one of them.

Shapes, one per file:
  OpenAI      {"input": {"messages": [...], "tools": [...]}, "preferred_output": [{"role": "assistant", ...}],
              "non_preferred_output": [{"role": "assistant", ...}]}
  explicit    {"prompt": "..." | [messages], "chosen": "..." | [assistant message], "rejected": ...}  (TRL's)
  implicit    {"chosen": [whole conversation], "rejected": [whole conversation]}: the prompt is what both share
Problems are gathered and raised together as data/loading.py does (file, line, field, what was expected); an
answer may call tools (checked against the row's tools: data/tool_calls.py). An empty answer or two identical
ones are read as they are: the gate judges them (quality/pairs.py). Knows nothing about tokenizers or training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from anchortune.data import json_line, tool_calls
from anchortune.data.lines import Collector, lines, one_shape, open_input, write_jsonl
from anchortune.data.records import AnchorPoint, message_json, message_text
from anchortune.errors import DataError
from anchortune.messages import json_kind

SHAPES = {"openai": "'input'/'preferred_output'/'non_preferred_output'", "explicit": "'prompt'/'chosen'/'rejected'",
          "implicit": "'chosen'/'rejected' conversations"}


@dataclass(frozen=True)
class PreferencePair:
    """One preference: the conversation so far (`prompt`, ending in the user's turn), the answer preferred and the
    one not, each an assistant turn (content and/or tool calls). `line` is the file line it came from."""

    prompt: tuple[dict, ...]
    chosen: dict
    rejected: dict
    line: int
    tools: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def question(self) -> str:
        """The last user turn (what is asked)."""
        return next((m["content"] for m in reversed(self.prompt) if m["role"] == "user"), "")

    @property
    def chosen_text(self) -> str:
        return message_text(self.chosen)

    @property
    def rejected_text(self) -> str:
        return message_text(self.rejected)

    def side(self, which: str) -> AnchorPoint:
        """The conversation with the chosen or the rejected answer as an anchor point (for encoding and the gate)."""
        answer = self.chosen if which == "chosen" else self.rejected
        return AnchorPoint((*self.prompt, answer), self.line, tools=self.tools)

    def to_json(self) -> dict:
        out = {"prompt": [message_json(m) for m in self.prompt], "chosen": [message_json(self.chosen)],
               "rejected": [message_json(self.rejected)]}
        if self.tools:
            out["tools"] = [dict(t) for t in self.tools]
        return out


def shape_of(obj: dict) -> str | None:
    if "preferred_output" in obj or "non_preferred_output" in obj or ("input" in obj and "chosen" not in obj):
        return "openai"
    if "chosen" in obj and "rejected" in obj:
        return "explicit" if "prompt" in obj else "implicit"
    return None


def looks_like_pairs(path: str | Path) -> bool:
    """Whether a file's first row has the shape of a preference pair (the studio reads an upload by it)."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return False
    try:
        with open_input(path) as handle:
            for _, chunk in lines(path, handle, Collector(str(path))):
                if chunk.strip():
                    obj, problem = json_line.parse(chunk.decode("utf-8", errors="replace"))
                    return problem is None and isinstance(obj, dict) and shape_of(obj) is not None
    except DataError:
        return False
    return False


def load_pairs(path: str | Path) -> list[PreferencePair]:
    """Every pair of a JSONL file, or DataError naming every problem (nothing is kept then)."""
    return list(iter_pairs(path))


def iter_pairs(path: str | Path) -> Iterator[PreferencePair]:
    """The pairs of a file one by one; DataError naming every problem once the file has been read to its end."""
    path = Path(path)
    def unknown(obj: dict) -> str:
        return (f"no preference pair: expected {SHAPES['openai']}, {SHAPES['explicit']} or {SHAPES['implicit']}; "
                f"found keys {sorted(obj)[:20]}")

    with open_input(path) as handle:
        yield from one_shape(path, handle, "one preference pair", shape_of, _PARSERS, unknown, SHAPES.__getitem__,
                             subject="pairs")


def _parse_openai(obj: dict, line: int, errors) -> PreferencePair | None:
    given = obj.get("input")
    if not isinstance(given, dict):
        errors.add(line, "input", f"expected an object with 'messages' (and 'tools'), found {_kind(given)}")
        return None
    tools = tool_calls.parse_tools(given.get("tools", []), "input.tools", line, errors)
    if tools is None:
        return None
    prompt = _prompt(given.get("messages"), "input.messages", tools, line, errors)
    chosen = _answer(obj.get("preferred_output"), "preferred_output", tools, line, errors)
    rejected = _answer(obj.get("non_preferred_output"), "non_preferred_output", tools, line, errors)
    return None if None in (prompt, chosen, rejected) else PreferencePair(tuple(prompt), chosen, rejected, line,
                                                                          tuple(tools))


def _parse_explicit(obj: dict, line: int, errors) -> PreferencePair | None:
    tools = tool_calls.parse_tools(obj.get("tools", []), "tools", line, errors)
    if tools is None:
        return None
    given = obj["prompt"]
    prompt = [{"role": "user", "content": given}] if isinstance(given, str) else given
    if isinstance(given, str) and (problem := json_line.text_problem(given)):
        errors.add(line, "prompt", problem)
        return None
    prompt = _prompt(prompt, "prompt", tools, line, errors)
    chosen = _answer(obj["chosen"], "chosen", tools, line, errors)
    rejected = _answer(obj["rejected"], "rejected", tools, line, errors)
    return None if None in (prompt, chosen, rejected) else PreferencePair(tuple(prompt), chosen, rejected, line,
                                                                          tuple(tools))


def _parse_implicit(obj: dict, line: int, errors) -> PreferencePair | None:
    """Two whole conversations that share every turn but the last: the shared turns are the prompt."""
    tools = tool_calls.parse_tools(obj.get("tools", []), "tools", line, errors)
    if tools is None:
        return None
    sides = []
    for name in ("chosen", "rejected"):
        turns = obj[name]
        if not isinstance(turns, list):
            errors.add(line, name, f"expected the whole conversation as a list of turns (or a 'prompt' beside "
                                   f"chosen and rejected), found {_kind(turns)}")
            return None
        parsed = tool_calls.parse_turns(turns, name, tools, line, errors)
        if parsed is None:
            return None
        if parsed[-1]["role"] != "assistant":
            errors.add(line, f"{name}[{len(parsed) - 1}].role", "expected the conversation to end with the "
                                                                "assistant's answer")
            return None
        sides.append(parsed)
    chosen, rejected = sides
    if chosen[:-1] != rejected[:-1]:
        at = next((i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b), min(len(chosen), len(rejected)) - 1)
        errors.add(line, f"rejected[{at}]", "the two conversations differ before their last turn: expected the same "
                                            "turns and two different answers at the end")
        return None
    return PreferencePair(tuple(chosen[:-1]), chosen[-1], rejected[-1], line, tuple(tools))


def _prompt(value, field: str, tools: list[dict], line: int, errors) -> list[dict] | None:
    messages = tool_calls.parse_turns(value, field, tools, line, errors, need_answer=False)
    if messages is None:
        return None
    if messages[-1]["role"] not in ("user", "tool"):
        errors.add(line, f"{field}[{len(messages) - 1}].role", "expected the prompt to end with the user's turn (or "
                                                               "a tool's result), the answers coming after it")
        return None
    return messages


def _answer(value, field: str, tools: list[dict], line: int, errors) -> dict | None:
    """One assistant turn: a string, or a list holding one assistant message."""
    if isinstance(value, str):
        if problem := json_line.text_problem(value):
            errors.add(line, field, problem)
            return None
        return {"role": "assistant", "content": value}
    if not isinstance(value, list) or len(value) != 1:
        found = f"a list of {len(value)} turns" if isinstance(value, list) else _kind(value)
        errors.add(line, field, f"expected the answer as a string or a list of one assistant message, found {found}")
        return None
    turn = value[0]
    if not isinstance(turn, dict) or turn.get("role") != "assistant":
        role = json.dumps(turn.get("role"))[:40] if isinstance(turn, dict) else _kind(turn)
        errors.add(line, f"{field}[0].role", f"expected the assistant's turn, found {role}")
        return None
    return tool_calls.parse_turn(turn, f"{field}[0]", tools, [], line, errors)


def _kind(value) -> str:
    return "nothing" if value is None else json_kind(value)


_PARSERS = {"openai": _parse_openai, "explicit": _parse_explicit, "implicit": _parse_implicit}


def save_pairs(pairs: Iterable[PreferencePair], path: str | Path) -> Path:
    """Write pairs as explicit conversational JSONL (prompt turns, one chosen and one rejected turn), atomically."""
    return write_jsonl((pair.to_json() for pair in pairs), path)
