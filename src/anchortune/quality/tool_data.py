"""The gate's checks of tool-calling data, beside what it asks of every anchor point (declared in
quality/detectors.py, run by quality/gate.py from that list on its Rows; none for data without tools):

- a call whose arguments break its tool's JSON schema (a missing required argument, a string where the schema asks
  for a number, a value outside its enum): the model would learn to call it wrongly (error);
- a tool offered and never called anywhere in the data: the model learns never to call it (warning, at the first
  row offering it, where it is offered in UNUSED_ROWS rows or more; fewer is a distractor to choose against, as
  function-calling benchmarks offer them: info);
- a call the conversation never asked for: none of its argument values appears in what was said before it and the
  user's turn shares no word with the tool's name, description or parameters (warning: the model learns to call
  tools out of the blue, the regression peers' users report most);
- data in which every conversation that offers tools starts with a call (PLAIN_ROWS of them or more): one-sided, the
  model learns to call a tool whatever it is asked (bench/results/preference_tools.md: tuned on BFCL's calls alone,
  SmolLM2 answered 42 % of general questions in words, its base 100 %) (warning).
Knows nothing about models or templates.
"""

from __future__ import annotations

import re

from anchortune.data.records import AnchorPoint
from anchortune.messages import say
from anchortune.quality.detectors import Rows
from anchortune.quality.findings import Finding

STOP = frozenset("the and for with that this from what which your you are was were have has can could would should "
                 "will please about into given using find get make tell show give need want like".split())
WORD = re.compile(r"[^\W\d_]{4,}")
UNUSED_ROWS = 3
PLAIN_ROWS = 8


def findings(points: list[AnchorPoint]) -> list[Finding]:
    """Every tool-data finding of a set of anchor points (none for data without tools)."""
    if not _offers_tools(points):
        return []
    return schema_violations(points) + unused_tools(points) + needless_calls(points) + always_calling(points)


def invalid_calls(rows: Rows) -> list[Finding]:
    """Declared detector (quality/detectors.py): schema violations, for data that offers tools."""
    return schema_violations(rows.points) if _offers_tools(rows.points) else []


def unused(rows: Rows) -> list[Finding]:
    """Declared detector: tools offered and never called."""
    return unused_tools(rows.points) if _offers_tools(rows.points) else []


def needless(rows: Rows) -> list[Finding]:
    """Declared detector: calls the conversation never asked for."""
    return needless_calls(rows.points) if _offers_tools(rows.points) else []


def always_calls(rows: Rows) -> list[Finding]:
    """Declared detector: data whose every conversation offering tools starts with a call."""
    return always_calling(rows.points)


def _offers_tools(points: list[AnchorPoint]) -> bool:
    return any(p.tools for p in points)


def calls(point: AnchorPoint) -> list[tuple[int, dict]]:
    """(turn index, call) of every tool call in a conversation."""
    return [(i, c) for i, m in enumerate(point.messages) for c in m.get("tool_calls") or []]


def schema_of(point: AnchorPoint, name: str) -> dict:
    return next((t["function"].get("parameters") or {} for t in point.tools if t["function"]["name"] == name), {})


def violation(schema: dict, arguments: dict) -> str | None:
    """The first way `arguments` break `schema`, in words (None: they fit, or the schema cannot be read)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None  # a schema the validator cannot read says nothing about the call
    error = next(iter(sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = ".".join(str(p) for p in error.path)
    return f"{where}: {error.message}" if where else error.message


def schema_violations(points: list[AnchorPoint]) -> list[Finding]:
    found = []
    for point in points:
        for _, call in calls(point):
            name = call["function"]["name"]
            why = violation(schema_of(point, name), call["function"]["arguments"])
            if why:
                found.append(Finding(point.line, "invalid_tool_call", "error",
                                     say("f_tool_schema", name=name, detail=why[:200])))
    return found


def unused_tools(points: list[AnchorPoint]) -> list[Finding]:
    offered: dict[str, list[int]] = {}
    for point in points:
        for tool in point.tools:
            offered.setdefault(tool["function"]["name"], []).append(point.line)
    called = {c["function"]["name"] for p in points for _, c in calls(p)}
    return [Finding(lines[0], "unused_tool", "warning", say("f_tool_unused", name=name, n=len(lines)),
                    related=tuple(lines[1:20])) if len(lines) >= UNUSED_ROWS else
            Finding(lines[0], "unused_tool", "info", say("f_tool_distractor", name=name, n=len(lines)))
            for name, lines in offered.items() if name not in called]


def needless_calls(points: list[AnchorPoint]) -> list[Finding]:
    found = []
    for point in points:
        for turn, call in calls(point):
            if not _grounded(point, turn, call):
                found.append(Finding(point.line, "needless_tool_call", "warning",
                                     say("f_tool_needless", name=call["function"]["name"])))
    return found


def always_calling(points: list[AnchorPoint]) -> list[Finding]:
    """One finding, at the first conversation offering tools, where PLAIN_ROWS or more offer them and every one of
    them starts with a call: nothing teaches the model to answer in words when no tool is needed."""
    offering = [p for p in points if p.tools]
    first = [next((m for m in p.messages if m["role"] == "assistant"), None) for p in offering]
    if len(offering) < PLAIN_ROWS or any(m is not None and not m.get("tool_calls") for m in first):
        return []
    return [Finding(offering[0].line, "always_calls", "warning", say("f_tool_always", n=len(offering)),
                    related=tuple(p.line for p in offering[1:20]))]


def _grounded(point: AnchorPoint, turn: int, call: dict) -> bool:
    """Whether the conversation before the call gives one of its argument values, or asks what its tool does."""
    said = " ".join(m.get("content") or "" for m in point.messages[:turn] if m["role"] != "system").casefold()
    values = [v for v in _values(call["function"]["arguments"]) if len(v) >= 2 or v.isdigit()]
    if any(v.casefold() in said for v in values):
        return True
    tool = next((t["function"] for t in point.tools if t["function"]["name"] == call["function"]["name"]), {})
    about = " ".join([tool.get("name", "").replace("_", " "), tool.get("description", ""),
                      " ".join((tool.get("parameters") or {}).get("properties", {}) or {}).replace("_", " ")])
    asked = _words(said)
    return bool(asked & _words(about.casefold()))


def _values(arguments) -> list[str]:
    """Every scalar value inside the arguments, as text (numbers as written: 5, 2.5)."""
    if isinstance(arguments, dict):
        return [v for value in arguments.values() for v in _values(value)]
    if isinstance(arguments, list):
        return [v for value in arguments for v in _values(value)]
    if isinstance(arguments, bool) or arguments is None:
        return []
    if isinstance(arguments, float) and arguments.is_integer():
        return [str(int(arguments))]
    return [str(arguments) if not isinstance(arguments, str) else arguments]


def _words(text: str) -> set[str]:
    """Content words, crudely stemmed (a plural's or a verb's ending dropped) so 'orders' meets 'order'."""
    return {_stem(w) for w in WORD.findall(text) if w not in STOP}


def _stem(word: str) -> str:
    for ending in ("ing", "es", "s", "ed"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word
