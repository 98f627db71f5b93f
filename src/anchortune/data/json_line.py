"""One line of JSON from a user's file, read so that no input can crash the reader, and text checked for what a
tokenizer cannot take. Nesting deeper than MAX_DEPTH is refused before parsing (Python's parser would exhaust its
stack), integers past Python's 4,300-digit conversion limit and invalid JSON become problems naming the field where
it can be told, and a lone UTF-16 surrogate (a "\\ud800" escape without its pair) is not text. Knows nothing about
anchor-point shapes: data/loading.py turns the values into anchor points.
"""

from __future__ import annotations

import json
import re

MAX_DIGITS = 4300  # Python's own limit on converting digits to an int
MAX_DEPTH = 64  # objects and lists inside one line, deeper than any anchor point needs

Problem = tuple[str | None, str]  # (field, what is wrong)


def parse(text: str) -> tuple[object, Problem | None]:
    """(value, None) for a readable line (the value may be any JSON, null included), else (None, problem)."""
    depth = nesting(text) if text.count("[") + text.count("{") > MAX_DEPTH else 0
    if depth > MAX_DEPTH:
        return None, (field_at(text, r"[\[{]"),
                      f"nested {depth} levels deep; expected at most {MAX_DEPTH} levels of objects and lists")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, (None, f"not valid JSON ({exc.msg} at column {exc.colno}); expected one JSON object per line")
    except ValueError as exc:  # an integer longer than the conversion limit
        return None, (field_at(text, r"-?\d{%d}" % (MAX_DIGITS + 1)),
                      f"a number with more than {MAX_DIGITS} digits, which cannot be read ({exc}); expected text or "
                      "a number of ordinary size")
    except RecursionError:
        return None, (None, "nested too deeply to read")


def nesting(text: str) -> int:
    """The deepest nesting of objects and lists in a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def field_at(text: str, value_pattern: str) -> str | None:
    """The key whose value starts with `value_pattern` in a JSON text (naming the field of a value that cannot be
    parsed), or None."""
    match = re.search(r'"((?:[^"\\]|\\.)*)"\s*:\s*' + value_pattern, text)
    return match.group(1) if match else None


def text_problem(value: str) -> str | None:
    """Why a string cannot be text a tokenizer reads (a lone UTF-16 surrogate), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"contains a lone surrogate escape (\\u{ord(value[exc.start]):04x} at character {exc.start + 1}), "
                "half of a character: expected text; fix or remove the escape")
    return None
