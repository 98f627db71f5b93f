"""The lines of a data file, read and written: the one place anchortune opens a JSONL or CSV file for reading and
writes a JSON Lines file.

A path that is no regular readable file (missing, a folder, a device, a pipe, a file the system refuses) is named as
such; a file is read line by line within MAX_LINE_BYTES a line (a longer line is a problem of its own and is never
held whole); every problem is collected (file, line, field, what was expected) and raised together as one DataError.
JSON lines are parsed by data/json_line.py (no input crashes it); `one_shape` reads a file whose lines share one
shape into records (anchor points: data/loading.py, preference pairs: data/pairs.py). Files are written atomically.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from anchortune import scratch
from anchortune.data import json_line
from anchortune.errors import DataError, Problem
from anchortune.messages import json_kind

MAX_PROBLEMS = 200  # problems kept (and counted beyond)
MAX_LINE_BYTES = 1 << 20  # one example per line: 1 MiB is ~250,000 tokens, far past any context

class Collector:
    """Gathers problems for one file: the first MAX_PROBLEMS kept, all of them counted."""

    def __init__(self, file: str, subject: str = "points"):
        self.file = file
        self.subject = subject
        self.problems: list[Problem] = []
        self.total = 0

    def add(self, line: int, field: str | None, message: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.file, line, field, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataError(self.problems, self.total, self.subject)


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


def lines(path: Path, handle: BinaryIO, errors: Collector) -> Iterator[tuple[int, bytes]]:
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


def json_objects(path: Path, handle: BinaryIO, errors: Collector, each: str) -> Iterator[tuple[int, dict]]:
    """The JSON objects of a JSON Lines file with their line numbers, blank lines skipped; a line that is not UTF-8,
    not JSON or not an object is named in `errors` and skipped, and so is an empty file (`each`: what a line holds,
    "one example")."""
    any_text = False
    for number, chunk in lines(path, handle, errors):
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
            errors.add(number, None, f"expected a JSON object, found {json_kind(obj)}")
            continue
        yield number, obj
    if not any_text and not errors.total:
        errors.add(0, None, f"the file is empty; expected {each} per line")


def one_shape(path: Path, handle: BinaryIO, each: str, shape_of, parsers: dict, unknown, named,
              subject: str = "points") -> Iterator:
    """The records of a JSON Lines file whose lines share one shape: `shape_of(obj)` names a line's shape (None:
    `unknown(obj)` says what was expected), `parsers[shape](obj, line, errors)` makes its record, `named(shape)` writes
    a shape in a message; a line of another shape than the first is named. DataError naming every problem once the
    file is read (nothing is yielded after the first problem), headed by `subject` (what the file holds)."""
    errors = Collector(str(path), subject)
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
    errors = Collector(str(path))
    found = []
    with open_input(path) as handle:
        for number, chunk in lines(path, handle, errors):
            if not chunk.strip():
                continue
            try:
                found.append((number, chunk.decode("utf-8", errors="strict" if strict else "replace")))
            except UnicodeDecodeError as exc:
                errors.add(number, None, f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at column "
                                         f"{exc.start + 1}); save the file as UTF-8")
    errors.raise_if_any()
    return found
