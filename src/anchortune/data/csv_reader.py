"""Anchor points from a CSV (or TSV) file: the delimiter sniffed from the header (`,` `;` or tab) or given, the prompt,
answer and label columns found by name or given (CsvColumns), each row a single-turn anchor point; every problem
named by line and column (data/lines.py collects them). A quoted cell may span lines, within MAX_LINE_BYTES a
record."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anchortune.data.lines import MAX_LINE_BYTES, Collector, lines
from anchortune.data.records import ANSWER_KEYS, LABEL_KEYS, PROMPT_KEYS, AnchorPoint, from_pair

@dataclass(frozen=True)
class CsvColumns:
    """Which CSV columns hold the prompt, the answer and the label (None: detect or absent), and the delimiter
    (None: the one of `,` `;` tab that splits the header into the most cells)."""

    input: str | None = None
    output: str | None = None
    label: str | None = None
    delimiter: str | None = None


def read_csv(path: Path, handle: BinaryIO, columns: CsvColumns) -> Iterator[AnchorPoint]:
    errors = Collector(str(path))
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
        point = from_pair(values[input_col], answer, line, label or None)
        if point is not None and not errors.total:
            yield point
    errors.raise_if_any()


class _CsvLines:
    """The decoded lines of a CSV file for csv.reader (newlines kept: a quoted cell may span lines), read through
    data/lines.py's bound; a record spanning more than MAX_LINE_BYTES, or a line that is not UTF-8, ends the file with a
    problem (the cells after it cannot be told apart)."""

    def __init__(self, path: Path, handle: BinaryIO, errors: Collector):
        self.source = lines(path, handle, errors)
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


def _read_row(reader, errors: Collector) -> list[str] | None:
    """The next row of a csv.reader, or None at the end or at a row it cannot read (a problem)."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        errors.add(reader.line_num, None, f"not readable as CSV ({exc})")
        return None


def _csv_columns(header: list[str], columns: CsvColumns, delimiter: str,
                 errors: Collector) -> tuple[str | None, str | None, str | None]:
    """(prompt, answer, label) columns named by the options or found in the header; problems for a column named
    twice in the header or not found."""
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if name.strip() and name in seen:
            errors.add(1, name, f"the header names column '{name}' twice (columns {seen[name]} and {index}): the "
                                "cells under one of them would be read as the other's; name every column once")
        seen.setdefault(name, index)
    input_col = columns.input or _named(header, ("instruction", *PROMPT_KEYS, *GERMAN_PROMPTS))
    output_col = columns.output or _named(header, (*ANSWER_KEYS, *GERMAN_ANSWERS))
    label_col = columns.label or _named(header, (*LABEL_KEYS, *GERMAN_LABELS))
    for option, name in (("--input-col", input_col), ("--output-col", columns.output), ("--label-col", columns.label)):
        if name is not None and name not in header:
            errors.add(1, name, f"column named by {option} not found; the header has: {', '.join(header)[:400]}")
    if input_col is None:
        errors.add(1, None, f"no prompt column found (tried instruction, {', '.join((*PROMPT_KEYS, *GERMAN_PROMPTS))}"
                            ") in the header "
                            f"{_shown(header, delimiter)}; name it with --input-col, or the delimiter with --delimiter")
    if output_col is None and label_col is None:
        errors.add(1, None, "no answer column found; name it with --output-col (or --label-col)")
    return input_col, output_col, label_col


# the column names a German spreadsheet export gives (the English ones are data/records.py's keys)
GERMAN_PROMPTS = ("frage", "anfrage", "eingabe")
GERMAN_ANSWERS = ("antwort", "ausgabe")
GERMAN_LABELS = ("kategorie", "absicht")


def _named(header: list[str], names: tuple[str, ...]) -> str | None:
    """The header's first column (in `names`' order) whose name is one of `names`, ignoring case and the spaces
    around it ('Frage', ' Question ')."""
    folded = {cell.strip().casefold(): cell for cell in reversed(header)}
    return next((folded[name] for name in names if name in folded), None)


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
