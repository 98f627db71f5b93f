"""Reading and writing anchor-point files: the only data I/O in anchortune.

Every problem in a file is collected (file, line, field, what was expected) and raised together as
one DataError; a file with any problem yields nothing. Files are read line by line, so memory holds the rows kept,
not the file: a line longer than MAX_LINE_BYTES is a problem of its own and is never held whole, and a path that is
no regular readable file (a folder, a device, a pipe, a file the system refuses) is named as such. Each JSON line
is read by data/json_line.py (no input crashes it); this module turns the values into anchor points by their
shape (a conversation with tools and tool calls: data/tool_calls.py), and reads CSV by its delimiter. Preference
pairs have their own reader (data/pairs.py). Knows nothing about tasks or tokenizers.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anchortune import scratch
from anchortune.data import json_line, tool_calls
from anchortune.data.records import AnchorPoint, missing_turn
from anchortune.errors import DataError, Problem

MAX_PROBLEMS = 200  # problems kept (and counted beyond)
MAX_LINE_BYTES = 1 << 20  # one example per line: 1 MiB is ~250,000 tokens, far past any context
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
    """Gathers problems for one file: the first MAX_PROBLEMS kept, all of them counted."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []
        self.total = 0

    def add(self, line: int, field: str | None, message: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.file, line, field, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataError(self.problems, self.total)


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
            yield from _read_csv(path, handle, columns or CsvColumns())
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


def open_input(path: Path) -> BinaryIO:
    """The file opened for reading, or DataError saying why it cannot be: missing, a folder, no regular file (a
    device, a pipe), or refused by the system."""
    def refused(message: str) -> DataError:
        return DataError([Problem(str(path), 0, None, message)])

    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise refused("file not found") from None
    except OSError as exc:
        raise refused(f"cannot be read: {exc.strerror or exc} (on the file or a folder above it)") from None
    if stat.S_ISDIR(mode):
        raise refused("is a folder; expected a JSONL or CSV file")
    if not stat.S_ISREG(mode):
        raise refused("is not a regular file (a device, pipe or socket); expected a JSONL or CSV file")
    try:
        return path.open("rb")
    except OSError as exc:
        raise refused(f"cannot be read: {exc.strerror or exc}") from None


def _lines(path: Path, handle: BinaryIO, errors: _Collector) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) for every line of a file, the byte-order mark dropped. A line over
    MAX_LINE_BYTES is skipped to its end without being held and counted as a problem; a read the system refuses
    ends the file with a problem naming the line."""
    number = 0
    while True:
        try:
            chunk = handle.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            errors.add(number + 1, None, f"cannot be read from here on: {exc.strerror or exc}")
            return
        if not chunk:
            return
        number += 1
        if number == 1 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            size = len(chunk) + _skip_line(handle)
            errors.add(number, None, f"the line is {size:,} bytes long; at most {MAX_LINE_BYTES:,} bytes (1 MiB) "
                                     "per example are read: shorten or split it")
            continue
        yield number, chunk[:-1] if chunk.endswith(b"\n") else chunk


def _skip_line(handle: BinaryIO) -> int:
    """Read past the rest of a line in bounded pieces; how many bytes that was."""
    skipped = 0
    while piece := handle.readline(MAX_LINE_BYTES):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def json_objects(path: Path, handle: BinaryIO, errors: "_Collector", each: str) -> Iterator[tuple[int, dict]]:
    """The JSON objects of a JSON Lines file with their line numbers, blank lines skipped; a line that is not UTF-8,
    not JSON or not an object is named in `errors` and skipped, and so is an empty file (`each`: what a line holds,
    "one example")."""
    any_text = False
    for number, chunk in _lines(path, handle, errors):
        if not chunk.strip():
            continue
        any_text = True
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
        yield number, obj
    if not any_text and not errors.total:
        errors.add(0, None, f"the file is empty; expected {each} per line")


def _read_jsonl(path: Path, handle: BinaryIO) -> Iterator[AnchorPoint]:
    def unknown(obj: dict) -> str:
        pairs = " (chosen and rejected answers are preference pairs: train them with --objective dpo or orpo)" \
            if {"chosen", "rejected"} <= set(obj) or "preferred_output" in obj else ""
        return ("no known shape: expected 'messages', 'conversations', 'prompt'/'completion', "
                f"'instruction'/'output' or 'text'/'label'; found keys {sorted(obj)[:20]}{pairs}")

    yield from one_shape(path, handle, "one example", _shape_of, _PARSERS, unknown, lambda shape: f"'{shape}'")


def one_shape(path: Path, handle: BinaryIO, each: str, shape_of, parsers: dict, unknown, named) -> Iterator:
    """The records of a JSON Lines file whose lines share one shape: `shape_of(obj)` names a line's shape (None:
    `unknown(obj)` says what was expected), `parsers[shape](obj, line, errors)` makes its record, `named(shape)` writes
    a shape in a message; a line of another shape than the first is named. DataError naming every problem once the
    file is read (nothing is yielded after the first problem)."""
    errors = _Collector(str(path))
    first: tuple[str, int] | None = None
    for number, obj in json_objects(path, handle, errors, each):
        shape = shape_of(obj)
        if shape is None:
            errors.add(number, None, unknown(obj))
            continue
        if first is None:
            first = (shape, number)
        elif shape != first[0]:
            errors.add(number, None, f"shape {named(shape)} differs from {named(first[0])} used from line "
                                     f"{first[1]}; use one shape per file")
            continue
        record = parsers[shape](obj, number, errors)
        if record is not None and not errors.total:
            yield record
    errors.raise_if_any()


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


def _parse_messages(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
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


def _parse_sharegpt(obj: dict, line: int, errors: _Collector) -> AnchorPoint | None:
    messages = _parse_turns(obj.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES,
                            line, errors)
    return None if messages is None else AnchorPoint(tuple(messages), line, _label(obj, line, errors))


_PARSERS = {"messages": _parse_messages, "conversations": _parse_sharegpt, "instruction": _parse_instruction,
            "prompt": _parse_prompt, "label": _parse_label}


def _read_csv(path: Path, handle: BinaryIO, columns: CsvColumns) -> Iterator[AnchorPoint]:
    errors = _Collector(str(path))
    lines = _CsvLines(path, handle, errors)
    blank: list[str] = []
    first = next(lines, None)
    while first is not None and not first.strip():
        blank.append(first)
        first = next(lines, None)
    errors.raise_if_any()
    if first is None:
        errors.add(0, None, "the file is empty; expected a header line and one example per line")
        errors.raise_if_any()
    delimiter = columns.delimiter or _sniff_delimiter(first, "\t" if path.suffix.lower() == ".tsv" else ",")
    if len(delimiter) != 1:
        errors.add(0, None, f"delimiter {delimiter!r}: expected one character, such as ',' ';' or a tab")
        errors.raise_if_any()
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))  # one cell may hold a whole document
    reader = csv.reader(itertools.chain(blank, [first], lines), delimiter=delimiter)
    header = _read_row(reader, errors)
    while header == []:
        header = _read_row(reader, errors)
    header = header or []
    lines.record_done()
    wanted = _csv_columns(header, columns, delimiter, errors)
    errors.raise_if_any()
    input_col, output_col, label_col = wanted
    at = {name: header.index(name) for name in filter(None, wanted)}
    while (row := _read_row(reader, errors)) is not None:
        if not row:
            continue
        line = reader.line_num
        lines.record_done()
        extra = [cell for cell in row[len(header):] if cell.strip()]
        if extra:
            errors.add(line, None, f"the row has {len(row)} cells, the header {len(header)}: a delimiter "
                                   f"{delimiter!r} inside a cell that is not quoted? quote the cell or remove the extra "
                                   f"cells ({extra[0][:40]!r} is beyond the last column)")
            continue
        values = {}
        for col, index in at.items():
            if index >= len(row):
                errors.add(line, col, "the row has fewer cells than the header")
            values[col] = row[index] if index < len(row) else None
        if None in values.values():
            continue
        label = values[label_col].strip() if label_col else None
        answer = values[output_col] if output_col else label
        point = _from_pair(values[input_col], answer, line, label or None)
        if point is not None and not errors.total:
            yield point
    errors.raise_if_any()


class _CsvLines:
    """The decoded lines of a CSV file for csv.reader (newlines kept: a quoted cell may span lines), read through
    _lines' bound; a record spanning more than MAX_LINE_BYTES, or a line that is not UTF-8, ends the file with a
    problem (the cells after it cannot be told apart)."""

    def __init__(self, path: Path, handle: BinaryIO, errors: _Collector):
        self.source = _lines(path, handle, errors)
        self.errors = errors
        self.record_bytes = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        before = self.errors.total
        number, chunk = next(self.source)
        if self.errors.total > before:  # a line past the bound was skipped: the cells after it cannot be told apart
            raise StopIteration
        self.record_bytes += len(chunk) + 1
        if self.record_bytes > MAX_LINE_BYTES:
            self.errors.add(number, None, f"a record runs past {MAX_LINE_BYTES:,} bytes (1 MiB) from here: an "
                                          "unclosed quote? at most 1 MiB per example are read")
            raise StopIteration
        try:
            return chunk.decode("utf-8") + "\n"
        except UnicodeDecodeError as exc:
            self.errors.add(number, None, f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x}); save the file as UTF-8")
            raise StopIteration from None

    def record_done(self) -> None:
        self.record_bytes = 0


def _read_row(reader, errors: _Collector) -> list[str] | None:
    """The next row of a csv.reader, or None at the end or at a row it cannot read (a problem)."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        errors.add(reader.line_num, None, f"not readable as CSV ({exc})")
        return None


def _csv_columns(header: list[str], columns: CsvColumns, delimiter: str,
                 errors: _Collector) -> tuple[str | None, str | None, str | None]:
    """(prompt, answer, label) columns named by the options or found in the header; problems for a column named
    twice in the header or not found."""
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if name.strip() and name in seen:
            errors.add(1, name, f"the header names column '{name}' twice (columns {seen[name]} and {index}): the "
                                "cells under one of them would be read as the other's; name every column once")
        seen.setdefault(name, index)
    input_col = columns.input or next((k for k in ("instruction", *PROMPT_KEYS) if k in header), None)
    output_col = columns.output or next((k for k in ANSWER_KEYS if k in header), None)
    label_col = columns.label or next((k for k in LABEL_KEYS if k in header), None)
    for option, name in (("--input-col", input_col), ("--output-col", columns.output), ("--label-col", columns.label)):
        if name is not None and name not in header:
            errors.add(1, name, f"column named by {option} not found; the header has: {', '.join(header)[:400]}")
    if input_col is None:
        errors.add(1, None, f"no prompt column found (tried instruction, {', '.join(PROMPT_KEYS)}) in the header "
                            f"{_shown(header, delimiter)}; name it with --input-col, or the delimiter with --delimiter")
    if output_col is None and label_col is None:
        errors.add(1, None, "no answer column found; name it with --output-col (or --label-col)")
    return input_col, output_col, label_col


DELIMITERS = (",", ";", "\t")


def _shown(header: list[str], delimiter: str) -> str:
    cells = " | ".join(h[:60] for h in header[:8])
    return f"'{cells}' (read with delimiter {delimiter!r})"


def _sniff_delimiter(text: str, default: str) -> str:
    """The delimiter of `,` `;` tab that splits the header into the most cells (spreadsheet software in many
    European locales writes `;`); `default` where none splits it."""
    line = text.split("\n", 1)[0]
    header = next(csv.reader([line], delimiter=default), [])
    best, cells = default, len(header)
    for candidate in DELIMITERS:
        found = len(next(csv.reader([line], delimiter=candidate), []))
        if found > cells:
            best, cells = candidate, found
    return best


def save_anchor_points(points: Iterable[AnchorPoint], path: str | Path) -> Path:
    """Write anchor points as chat-shaped JSONL, atomically: the file appears whole or not at all."""
    return write_jsonl((point.to_json() for point in points), path)


def write_jsonl(records: Iterable[dict], path: str | Path) -> Path:
    """Write one JSON object a line, atomically: the file appears whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with scratch.pending(tmp):
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def text_lines(path: str | Path, strict: bool = True) -> list[tuple[int, str]]:
    """(line number, text) of every line of a JSONL file that holds anything, read within MAX_LINE_BYTES a line;
    DataError for a file that cannot be read, a line past the bound or (`strict`) one that is not UTF-8 (else its
    bytes are replaced)."""
    path = Path(path)
    errors = _Collector(str(path))
    found = []
    with open_input(path) as handle:
        for number, chunk in _lines(path, handle, errors):
            if not chunk.strip():
                continue
            try:
                found.append((number, chunk.decode("utf-8", errors="strict" if strict else "replace")))
            except UnicodeDecodeError as exc:
                errors.add(number, None, f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at column "
                                         f"{exc.start + 1}); save the file as UTF-8")
    errors.raise_if_any()
    return found


def read_prompts(path: str | Path) -> list[dict]:
    """Prompts for batch generation: JSONL lines with 'prompt' (or another prompt key) or 'messages'
    ending in a user turn. Returns [{'line', 'messages'}]; DataError naming every bad line."""
    path = Path(path)
    errors = _Collector(str(path))
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

