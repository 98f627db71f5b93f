"""A cleaned copy of the anchor points: what --fix writes, and the changelog that says why for every row.

Dropped: exact duplicates, empty answers, later members of near-duplicate groups. Set aside for a
person to review: contradictions (both rows of each: which fact is right is the person's call, never the fix's),
off-task rows, invalid outputs. Everything else is kept as it is. Findings at info level change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from anchortune.data.records import AnchorPoint
from anchortune.quality import detectors
from anchortune.quality.findings import Finding

DROP = set(detectors.codes(fix="drop"))  # declared with each detector (quality/detectors.py)
REVIEW = set(detectors.codes(fix="review"))


@dataclass
class FixPlan:
    kept: list[AnchorPoint]
    review: list[AnchorPoint]
    changelog: list[dict]


def plan_fix(points: list[AnchorPoint], findings: list[Finding]) -> FixPlan:
    by_line: dict[int, list[Finding]] = {}
    for f in findings:
        if not f.at_least("warning"):
            continue
        by_line.setdefault(f.line, []).append(f)
        if f.code == "contradiction":  # the other side of a conflict goes to review as well
            for other in f.related:
                by_line.setdefault(other, []).append(f)
    kept, review, changelog = [], [], []
    for point in points:
        own = by_line.get(point.line, [])
        empty = [f for f in own if f.code == "unclear_answer" and f.severity == "error"]
        drop = [f for f in own if f.code in DROP] + empty
        aside = [f for f in own if f.code in REVIEW]
        if drop:
            changelog.append({"line": point.line, "action": "dropped", "reasons": [f.message for f in drop]})
        elif aside:
            review.append(point)
            changelog.append({"line": point.line, "action": "set aside for review",
                              "reasons": [f.message for f in aside]})
        else:
            kept.append(point)
    return FixPlan(kept, review, changelog)
