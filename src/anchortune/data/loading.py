"""Reading and writing anchor-point files.

Every problem in a file is collected (file, line, field, what was expected) and raised together as one DataError; a
file with any problem yields nothing. Files are read line by line through data/lines.py (which names a path that is
no readable file and a line past its bound), so memory holds the rows kept, not the file. This module turns a JSON
line into an anchor point by its shape (messages, ShareGPT conversations, prompt/completion, instruction/output,
text/label; a conversation with tools and tool calls: data/tool_calls.py); CSV is read by data/csv_reader.py.
Preference pairs have their own reader (data/pairs.py). Knows nothing about tasks or tokenizers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from anchortune.data import json_line, tool_calls
from anchortune.data.csv_reader import CsvColumns, read_csv
from anchortune.data.lines import Collector, one_shape, open_input, text_lines, write_jsonl
from anchortune.data.records import ANSWER_KEYS, LABEL_KEYS, PROMPT_KEYS, AnchorPoint, from_pair, missing_turn
from anchortune.errors import DataError, Problem
from anchortune.messages import json_kind

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "model": "assistant", "system": "system"}


def load_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> list[AnchorPoint]:
    """Load a JSONL or CSV file into anchor points, or raise DataError naming every problem."""
    return list(iter_anchor_points(path, columns))


def iter_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> Iterator[AnchorPoint]:
    """The anchor points of a JSONL or CSV file one by one, read as they are taken; DataError naming every problem
    once the file has been read to its end (a caller keeps nothing it took when that comes)."""
    path = Path(path)
    handle = open_input(path)
    with handle:
        if path.suffix.lower() in (".csv", ".tsv"):
            yield from read_csv(path, handle, columns or CsvColumns())
            return
        if columns and (columns.input or columns.output or columns.label or columns.delimiter):
            raise DataError([Problem(str(path), 0, None, "column and delimiter options apply to CSV files only")])
        yield from _read_jsonl(path, handle)


def sample_anchor_points(path: str | Path, keep: int, columns: CsvColumns | None = None,
                         seed: int = 0) -> tuple[list[AnchorPoint], int]:
    """A seeded uniform sample of at most `keep` anchor points of a file, in file order, and how many the file
    holds; every row is read and checked (DataError as for load_anchor_points), but only `keep` are held."""
    rng = random.Random(seed)
    kept: list[AnchorPoint] = []
    seen = 0
    for point in iter_anchor_points(path, columns):  # Algorithm R: each row is kept with chance keep / seen
        seen += 1
        if len(kept) < keep:
            kept.append(point)
        elif (slot := rng.randrange(seen)) < keep:
            kept[slot] = point
    return sorted(kept, key=lambda p: p.line), seen


def _read_jsonl(path: Path, handle: BinaryIO) -> Iterator[AnchorPoint]:
    def unknown(obj: dict) -> str:
        pairs = " (chosen and rejected answers are preference pairs: train them with --objective dpo or orpo)" \
            if {"chosen", "rejected"} <= set(obj) or "preferred_output" in obj else ""
        return ("no known shape: expected 'messages', 'conversations', 'prompt'/'completion', "
                f"'instruction'/'output' or 'text'/'label'; found keys {sorted(obj)[:20]}{pairs}")

    yield from one_shape(path, handle, "one example", _shape_of, _PARSERS, unknown, lambda shape: f"'{shape}'")


def _shape_of(obj: dict) -> str | None:
    if "messages" in obj:
        return "messages"
    if "conversations" in obj:
        return "conversations"
    if "instruction" in obj:
        return "instruction"
    if any(k in obj for k in PROMPT_KEYS) and any(k in obj for k in ANSWER_KEYS):
        return "prompt"
    if any(k in obj for k in PROMPT_KEYS) and any(k in obj for k in LABEL_KEYS):
        return "label"
    return None


def _string(obj: dict, key: str, line: int, errors: Collector, allow_object: bool = False,
            field: str | None = None) -> str | None:
    """The string at obj[key]; an object answer is kept as compact JSON when allowed."""
    value = obj.get(key)
    if isinstance(value, str) or (allow_object and isinstance(value, dict)):
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        problem = json_line.text_problem(text)
        if problem:
            errors.add(line, field or key, problem)
            return None
        return text
    expected = "a string or a JSON object" if allow_object else "a string"
    found = "but the field is missing" if key not in obj else f"found {json_kind(value)}"
    errors.add(line, field or key, f"expected {expected}, {found}")
    return None


def _label(obj: dict, line: int, errors: Collector) -> str | None:
    for key in LABEL_KEYS:
        if key in obj:
            value = obj[key]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                errors.add(line, key, f"expected a string label, found {json_kind(value)}")
                return None
            if isinstance(value, str) and (problem := json_line.text_problem(value)):
                errors.add(line, key, problem)
                return None
            return str(value)
    return None


def _first_key(obj: dict, keys: Iterable[str]) -> str:
    return next(k for k in keys if k in obj)


def _parse_prompt(obj: dict, line: int, errors: Collector) -> AnchorPoint | None:
    prompt = _string(obj, _first_key(obj, PROMPT_KEYS), line, errors)
    answer = _string(obj, _first_key(obj, ANSWER_KEYS), line, errors, allow_object=True)
    return from_pair(prompt, answer, line, _label(obj, line, errors))


def _parse_instruction(obj: dict, line: int, errors: Collector) -> AnchorPoint | None:
    instruction = _string(obj, "instruction", line, errors)
    extra = _string(obj, "input", line, errors) if "input" in obj else ""
    answer_key = next((k for k in ANSWER_KEYS if k in obj), "output")
    answer = _string(obj, answer_key, line, errors, allow_object=True)
    prompt = None if instruction is None or extra is None else "\n\n".join(p for p in (instruction, extra) if p)
    return from_pair(prompt, answer, line, _label(obj, line, errors))


def _parse_label(obj: dict, line: int, errors: Collector) -> AnchorPoint | None:
    prompt = _string(obj, _first_key(obj, PROMPT_KEYS), line, errors)
    label = _label(obj, line, errors)
    return from_pair(prompt, label, line, label)


def _parse_turns(turns: object, field: str, role_key: str, text_key: str, roles: dict[str, str],
                 line: int, errors: Collector, need_answer: bool = True) -> list[dict[str, str]] | None:
    if not isinstance(turns, list) or not turns:
        errors.add(line, field, "expected a non-empty list of turns")
        return None
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        where = f"{field}[{i}]"
        if not isinstance(turn, dict):
            errors.add(line, where, f"expected an object with '{role_key}' and '{text_key}'")
            return None
        role = roles.get(turn.get(role_key)) if isinstance(turn.get(role_key), str) else None
        if role is None:
            errors.add(line, f"{where}.{role_key}", f"expected one of {sorted(set(roles))}, "
                                                    f"found {repr(turn.get(role_key))[:60]}")
            return None
        content = _string(turn, text_key, line, errors, field=f"{where}.{text_key}")
        if content is None:
            return None
        messages.append({"role": role, "content": content})
    if lacking := missing_turn(messages, need_answer):
        errors.add(line, field, lacking)
        return None
    first = next(i for i, m in enumerate(messages) if m["role"] != "system")
    if messages[first]["role"] == "assistant":  # chat templates render turns after a user's, or refuse
        errors.add(line, f"{field}[{first}].{role_key}", "the conversation starts with an assistant turn; expected "
                                                         "the user to speak first (a system turn may come before)")
        return None
    return messages


def _parse_messages(obj: dict, line: int, errors: Collector) -> AnchorPoint | None:
    if tool_calls.is_tool_conversation(obj):
        return tool_calls.parse(obj, line, errors)
    roles = {r: r for r in ("system", "user", "assistant")}
    turns, reference = obj.get("messages"), obj.get("reference_answer")
    if isinstance(reference, str) and reference.strip() and isinstance(turns, list) and turns \
            and isinstance(turns[-1], dict) and turns[-1].get("role") == "user":
        turns = [*turns, {"role": "assistant", "content": reference}]  # OpenAI's reinforcement data: the reference
    messages = _parse_turns(turns, "messages", "role", "content", roles, line, errors)
    extra = {k: v for k, v in obj.items() if k not in ("messages", "label", "tools")}
    return None if messages is None else AnchorPoint(tuple(messages), line, _label(obj, line, errors), extra=extra)


def _parse_sharegpt(obj: dict, line: int, errors: Collector) -> AnchorPoint | None:
    messages = _parse_turns(obj.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES,
                            line, errors)
    return None if messages is None else AnchorPoint(tuple(messages), line, _label(obj, line, errors))


_PARSERS = {"messages": _parse_messages, "conversations": _parse_sharegpt, "instruction": _parse_instruction,
            "prompt": _parse_prompt, "label": _parse_label}


def save_anchor_points(points: Iterable[AnchorPoint], path: str | Path) -> Path:
    """Write anchor points as chat-shaped JSONL, atomically: the file appears whole or not at all."""
    return write_jsonl((point.to_json() for point in points), path)


def read_prompts(path: str | Path) -> list[dict]:
    """Prompts for batch generation: JSONL lines with 'prompt' (or another prompt key) or 'messages'
    ending in a user turn. Returns [{'line', 'messages'}]; DataError naming every bad line."""
    path = Path(path)
    errors = Collector(str(path))
    prompts = []
    for number, text in text_lines(path, strict=False):
        obj, problem = json_line.parse(text)
        if problem:
            errors.add(number, *problem)
            continue
        if isinstance(obj, dict) and "messages" in obj:
            roles = {r: r for r in ("system", "user", "assistant")}
            turns = obj["messages"]
            if isinstance(turns, list) and turns and isinstance(turns[-1], dict) and turns[-1].get("role") != "user":
                errors.add(number, "messages", "the last turn must be the user's question")
                continue
            messages = _parse_turns(turns, "messages", "role", "content", roles, number, errors, need_answer=False)
        elif isinstance(obj, dict) and any(k in obj for k in ("instruction", *PROMPT_KEYS)):
            key = _first_key(obj, ("instruction", *PROMPT_KEYS))
            prompt = _string(obj, key, number, errors)
            messages = None if prompt is None else [{"role": "user", "content": prompt}]
        else:
            errors.add(number, None, "expected an object with 'prompt' or 'messages'")
            continue
        if messages is not None:
            prompts.append({"line": number, "messages": messages})
    errors.raise_if_any()
    return prompts

