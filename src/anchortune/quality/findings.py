"""What the gate says about one example: a reason code, a severity and a sentence a person understands."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

CODES = {
    "exact_duplicate": "the same prompt and answer appear earlier",
    "near_duplicate": "almost the same prompt and answer appear earlier",
    "contradiction": "a near-identical prompt has a conflicting answer",
    "off_task": "far from the rest of the data (or the task description)",
    "unclear_answer": "the answer is empty, garbled, cut off or ignores its prompt",
    "invalid_output": "the answer does not have the task's output format",
    "too_long": "training would cut tokens off this example",
    "personal_data": "contains personal data or a secret",
    "template_answer": "one answer reused for many different prompts",
    "language_mismatch": "the answer is in another language than the prompt",
    "invalid_tool_call": "a tool call whose arguments break its tool's schema",
    "unused_tool": "a tool offered but never called in the data",
    "needless_tool_call": "a tool call the conversation never asked for",
    "empty_side": "a preference pair with an empty answer",
    "identical_sides": "a preference pair whose two answers are the same",
    "rejected_better": "the rejected answer passes a check of the task the chosen one fails",
}


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
