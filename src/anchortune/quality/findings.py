"""What the gate says about one example: a reason code, a severity and a sentence a person understands."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from anchortune.quality.detectors import DETECTORS

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

CODES = {d.code: d.words for d in DETECTORS}  # declared once (quality/detectors.py)


@dataclass(frozen=True)
class Finding:
    """One flagged example: `line` in the source file, `related` lines it was compared with."""

    line: int
    code: str
    severity: Severity
    message: str
    related: tuple[int, ...] = field(default=())

    def to_json(self) -> dict:
        out = asdict(self)
        out["related"] = list(self.related)
        return out

    def at_least(self, severity: Severity) -> bool:
        return SEVERITY_RANK[self.severity] >= SEVERITY_RANK[severity]
