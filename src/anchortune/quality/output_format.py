"""Answers checked against the preset's output format: JSON with its fields, or a label from its set."""

from __future__ import annotations

import json
from collections import Counter
from difflib import get_close_matches

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.messages import say


def invalid_outputs(points: list[AnchorPoint], preset: Preset, declared_labels: list[str]) -> list[Finding]:
    fmt = preset.output.format
    if fmt == "json":
        return [f for p in points if (f := _json_finding(p, preset.output.fields))]
    if fmt == "label":
        return _label_findings(points, declared_labels)
    return []


def _json_finding(point: AnchorPoint, fields: list[str]) -> Finding | None:
    if not point.answer.strip():
        return None  # an empty answer is unclear_answer's business
    try:
        value = json.loads(point.answer)
    except json.JSONDecodeError as exc:
        return Finding(point.line, "invalid_output", "error", f"the answer is not valid JSON ({exc.msg} at "
                                                              f"character {exc.pos})")
    if not isinstance(value, dict):
        return Finding(point.line, "invalid_output", "error",
                       f"the answer is JSON {type(value).__name__}, expected an object with {', '.join(fields)}")
    missing = [f for f in fields if f not in value]
    if missing and len(missing) == len(fields):
        return Finding(point.line, "invalid_output", "error", f"the answer has none of the fields {', '.join(fields)}")
    if missing:
        return Finding(point.line, "invalid_output", "warning", say("f_json_lacks", fields=", ".join(missing)))
    return None


def _label_findings(points: list[AnchorPoint], declared: list[str]) -> list[Finding]:
    answers = [(p, (p.label or p.answer).strip()) for p in points]
    if declared:
        allowed = set(declared)
        return [Finding(p.line, "invalid_output", "error",
                        f"label '{label}' is not one of {', '.join(declared[:12])}"
                        + _typo_hint(label, declared)) for p, label in answers if label not in allowed]
    counts = Counter(label for _, label in answers)
    common = [label for label, c in counts.items() if c >= 3]
    findings = []
    for point, label in answers:
        if counts[label] == 1 and (match := get_close_matches(label, common, n=1, cutoff=0.8)):
            findings.append(Finding(point.line, "invalid_output", "warning",
                                    f"label '{label}' occurs once and looks like a typo of '{match[0]}'"))
    return findings


def _typo_hint(label: str, labels: list[str]) -> str:
    match = get_close_matches(label, labels, n=1, cutoff=0.8)
    return f" (did you mean '{match[0]}'?)" if match else ""
