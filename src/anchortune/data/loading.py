"""Reading and writing anchor-point files: the only data I/O in anchortune.

Every problem in a file is collected (file, line, field, what was expected) and raised together as
one DataError; a file with any problem yields nothing. Each JSON line is read by data/json_line.py (no input
crashes it); this module turns the values into anchor points by their shape, and reads CSV by its delimiter.
Knows nothing about tasks or tokenizers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from anchortune.data import json_line
from anchortune.data.records import AnchorPoint
from anchortune.errors import DataError, Problem

MAX_PROBLEMS = 200
PROMPT_KEYS = ("prompt", "question", "text", "input")
ANSWER_KEYS = ("completion", "output", "response", "answer")
LABEL_KEYS = ("label", "intent")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "model": "assistant", "system": "system"}


@dataclass(frozen=True)
class CsvColumns:
    """Which CSV columns hold the prompt, the answer and the label (None: detect or absent), and the delimiter
    (None: the one of `,` `;` tab that splits the header into the most cells)."""

    input: str | None = None
    output: str | None = None
    label: str | None = None
    delimiter: str | None = None


class _Collector:
    """Gathers problems for one file, stopping at MAX_PROBLEMS."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, field: str | None, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.file, line, field, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataError(self.problems)


def load_anchor_points(path: str | Path, columns: CsvColumns | None = None) -> list[AnchorPoint]:
    """Load a JSONL or CSV file into anchor points, or raise DataError naming every problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem(str(path), 0, None, "file not found")])
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise DataError([Problem(str(path), 0, None, "the file is empty; expected one example per line")])
    if path.suffix.lower() in (".csv", ".tsv"):
        return _load_csv(path, raw, columns or CsvColumns())
    if columns and (columns.input or columns.output or columns.label or columns.delimiter):
        raise DataError([Problem(str(path), 0, None, "column and delimiter options apply to CSV files only")])
    return _load_jsonl(path, raw)


def _load_jsonl(path: Path, raw: bytes) -> list[AnchorPoint]:
    errors = _Collector(str(path))
    points: list[AnchorPoint] = []
    first_shape: tuple[str, int] | None = None
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.add(number, None, f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at column {exc.start + 1}); "
                                     "save the file as UTF-8")
            continue
        obj, problem = json_line.parse(text)
        if problem:
            errors.add(number, *problem)
            continue
        if not isinstance(obj, dict):
            errors.add(number, None, f"expected a JSON object, found {type(obj).__name__}")
            continue
        shape = _shape_of(obj)
        if shape is None:
            errors.add(number, None, "no known shape: expected 'messages', 'conversations', 'prompt'/'completion', "
                                     f"'instruction'/'output' or 'text'/'label'; found keys {sorted(obj)}")
            continue
        if first_shape is None:
            first_shape = (shape, number)
        elif shape != first_shape[0]:
            errors.add(number, None, f"shape '{shape}' differs from '{first_shape[0]}' used from line "
                                     f"{first_shape[1]}; use one shape per file")
            continue
        point = _PARSERS[shape](obj, number, errors)
        if point is not None:
            points.append(point)
    errors.raise_if_any()
    return points


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


def _string(obj: dict, key: str, line: int, errors: _Collector, allow_object: bool = False,
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
    kind = "missing" if key not in obj else f"a {type(value).__name__ if value is not None else 'null'}"
    expected = "a string or a JSON object" if allow_object else "a string"
    errors.add(line, field or key, f"expected {expected}, found {kind}")
    return None


def _label(obj: dict, line: int, errors: _Collector) -> str | None:
    for key in LABEL_KEYS:
        if key in obj:
            value = obj[key]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                errors.add(line, key, f"expected a string label, found a {type(value).__name__}")
                return None
            if isinstance(value, str) and (problem := json_line.text_problem(value)):
                errors.add(line, key, problem)
                return None
            return str(value)
    return None


def _first_key(obj: dict, keys: Iterable[str]) -> str:
    return next(k for k in keys if k in obj)


def _from_pair(prompt: str | None, answer: str | None, line: int, label: str | None) -> AnchorPoint | None:
    if prompt is None or answer is None:
        return None
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}),
                       line, label)


def _parse_prompt(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    prompt = _string(obj, _first_key(obj, PROMPT_KEYS), line, errors)
    answer = _string(obj, _first_key(obj, ANSWER_KEYS), line, errors, allow_object=True)
    return _from_pair(prompt, answer, line, _label(obj, line, errors))


def _parse_instruction(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    instruction = _string(obj, "instruction", line, errors)
    extra = _string(obj, "input", line, errors) if "input" in obj else ""
    answer_key = next((k for k in ANSWER_KEYS if k in obj), "output")
    answer = _string(obj, answer_key, line, errors, allow_object=True)
    prompt = None if instruction is None or extra is None else "\n\n".join(p for p in (instruction, extra) if p)
    return _from_pair(prompt, answer, line, _label(obj, line, errors))


def _parse_label(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    prompt = _string(obj, _first_key(obj, PROMPT_KEYS), line, errors)
    label = _label(obj, line, errors)
    return _from_pair(prompt, label, line, label)


def _parse_turns(turns: object, field: str, role_key: str, text_key: str, roles: dict[str, str],
                 line: int, errors: _Collector, need_answer: bool = True) -> list[dict[str, str]] | None:
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
                                                    f"found {turn.get(role_key)!r}")
            return None
        content = _string(turn, text_key, line, errors, field=f"{where}.{text_key}")
        if content is None:
            return None
        messages.append({"role": role, "content": content})
    if need_answer and not any(m["role"] == "assistant" for m in messages):
        errors.add(line, field, "the conversation has no assistant answer to learn from")
        return None
    if not any(m["role"] == "user" for m in messages):
        errors.add(line, field, "the conversation has no user turn")
        return None
    return messages


def _parse_messages(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    roles = {r: r for r in ("system", "user", "assistant")}
    messages = _parse_turns(obj.get("messages"), "messages", "role", "content", roles, line, errors)
    return None if messages is None else AnchorPoint(tuple(messages), line, _label(obj, line, errors))


def _parse_sharegpt(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    messages = _parse_turns(obj.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES,
                            line, errors)
    return None if messages is None else AnchorPoint(tuple(messages), line, _label(obj, line, errors))


_PARSERS = {"messages": _parse_messages, "conversations": _parse_sharegpt, "instruction": _parse_instruction,
            "prompt": _parse_prompt, "label": _parse_label}


def _load_csv(path: Path, raw: bytes, columns: CsvColumns) -> list[AnchorPoint]:
    errors = _Collector(str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        errors.add(line, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")
        errors.raise_if_any()
    delimiter = columns.delimiter or _sniff_delimiter(text, "\t" if path.suffix.lower() == ".tsv" else ",")
    if len(delimiter) != 1:
        errors.add(0, None, f"delimiter {delimiter!r}: expected one character, such as ',' ';' or a tab")
        errors.raise_if_any()
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # one cell may hold a whole document
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h for h in (reader.fieldnames or []) if h is not None]
    input_col = columns.input or next((k for k in ("instruction", *PROMPT_KEYS) if k in header), None)
    output_col = columns.output or next((k for k in ANSWER_KEYS if k in header), None)
    label_col = columns.label or next((k for k in LABEL_KEYS if k in header), None)
    for option, name in (("--input-col", input_col), ("--output-col", columns.output), ("--label-col", columns.label)):
        if name is not None and name not in header:
            errors.add(1, name, f"column named by {option} not found; the header has: {', '.join(header)}")
    if input_col is None:
        errors.add(1, None, f"no prompt column found (tried instruction, {', '.join(PROMPT_KEYS)}) in the header "
                            f"{_shown(header, delimiter)}; name it with --input-col, or the delimiter with --delimiter")
    if output_col is None and label_col is None:
        errors.add(1, None, "no answer column found; name it with --output-col (or --label-col)")
    errors.raise_if_any()
    points = []
    for row in reader:
        line = reader.line_num
        values = {}
        for col in filter(None, (input_col, output_col, label_col)):
            value = row.get(col)
            if value is None:
                errors.add(line, col, "the row has fewer cells than the header")
            values[col] = value
        if None in values.values():
            continue
        label = values[label_col].strip() if label_col else None
        answer = values[output_col] if output_col else label
        points.append(_from_pair(values[input_col], answer, line, label or None))
    errors.raise_if_any()
    return points


DELIMITERS = (",", ";", "\t")


def _shown(header: list[str], delimiter: str) -> str:
    cells = " | ".join(h[:60] for h in header[:8])
    return f"'{cells}' (read with delimiter {delimiter!r})"


def _sniff_delimiter(text: str, default: str) -> str:
    """The delimiter of `,` `;` tab that splits the header into the most cells (spreadsheet software in many
    European locales writes `;`); `default` where none splits it."""
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=default), [])
    best, cells = default, len(header)
    for candidate in DELIMITERS:
        found = len(next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=candidate), []))
        if found > cells:
            best, cells = candidate, found
    return best


def save_anchor_points(points: Iterable[AnchorPoint], path: str | Path) -> Path:
    """Write anchor points as chat-shaped JSONL, atomically: the file appears whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for point in points:
                handle.write(json.dumps(point.to_json(), ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_prompts(path: str | Path) -> list[dict]:
    """Prompts for batch generation: JSONL lines with 'prompt' (or another prompt key) or 'messages'
    ending in a user turn. Returns [{'line', 'messages'}]; DataError naming every bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem(str(path), 0, None, "file not found")])
    errors = _Collector(str(path))
    prompts = []
    for number, text in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").split("\n"), start=1):
        if not text.strip():
            continue
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

