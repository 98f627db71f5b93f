"""The quality gate's detectors, declared once: each finding code with the words a person reads, where it is found,
the report score its rows lower, the advice it gives and what --fix does with its rows. quality/findings.py,
report.py, fix.py and html.py read this list. quality/gate.py calls the detectors whose inputs interact (what one
finds, another skips) itself, and runs every detector declared `on_rows` from this list, in its order: a new
detector is its module, with `find(rows: Rows) -> list[Finding]`, plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from anchortune.messages import template


@dataclass(frozen=True)
class Rows:
    """What a detector run from the list is given: the anchor points, the task preset (labels and fields resolved),
    the embeddings of prompts and answers (numpy rows, as the embedder gives them), the tokenizer (None when the
    check runs without one) and the context length, and the lines no detector should judge by their wording (empty,
    garbled, or in another language than their question)."""

    points: list
    preset: object
    prompt_vectors: object
    answer_vectors: object
    tokenizer: object = None
    max_length: int = 512
    unreadable: frozenset = field(default_factory=frozenset)


@dataclass(frozen=True)
class Detector:
    code: str
    words: str  # what a flagged row means
    found_by: str  # the function that finds it (module.function in quality/)
    score: str | None = None  # the report score its rows lower: relevance, diversity, balance or clarity
    advice: str | None = None  # the report's advice, a catalogue template: {n} rows, {lines}, {limit} (context length)
    fix: str | None = None  # what --fix does with its rows: "drop" or "review" (None: kept)
    on_rows: bool = False  # found_by takes a Rows and the gate runs it from this list
    advice_in: str | None = None  # its rows are counted in another detector's advice line (one line for a kind of data)

    def finder(self):
        """The function that finds it (found_by, in anchortune.quality)."""
        module, function = self.found_by.rsplit(".", 1)
        return getattr(importlib.import_module(f"anchortune.quality.{module}"), function)


DETECTORS = (  # in the order the report's advice ranks ties
    Detector("exact_duplicate", "the same prompt and answer appear earlier", "duplicates.exact_duplicates",
             "diversity", template("q_advice_exact_duplicate"), "drop"),
    Detector("near_duplicate", "almost the same prompt and answer appear earlier", "duplicates.near_duplicates",
             "diversity", template("q_advice_near_duplicate"), "drop"),
    Detector("contradiction", "a near-identical prompt has a conflicting answer", "duplicates.contradictions",
             "clarity", template("q_advice_contradiction"), "review"),
    Detector("off_task", "far from the rest of the data (or the task description)", "relevance.off_task",
             "relevance", template("q_advice_off_task"), "review"),
    Detector("unclear_answer", "the answer is empty, garbled, cut off or ignores its prompt", "gate._unclear_answers",
             "clarity", template("q_advice_unclear")),
    Detector("invalid_output", "the answer does not have the task's output format", "output_format.invalid_outputs",
             "clarity", template("q_advice_invalid"), "review"),
    Detector("personal_data", "contains personal data or a secret", "personal_data.find",
             advice=template("q_advice_personal"), on_rows=True),
    Detector("language_mismatch", "the answer is in another language than the prompt", "gate._language_mismatches",
             "clarity", template("q_advice_language")),
    Detector("too_long", "training would cut tokens off this example", "gate._token_lengths",
             advice=template("q_advice_too_long")),
    Detector("template_answer", "one answer reused for many different prompts", "balance.template_answers",
             "balance"),  # its advice names the templates (report.py)
    # tool-calling data (quality/tool_data.py: none for data without tools); one advice line for the three
    Detector("invalid_tool_call", "a tool call whose arguments break its tool's schema", "tool_data.invalid_calls",
             "clarity", template("q_advice_tools"), on_rows=True),
    Detector("unused_tool", "a tool offered but never called in the data", "tool_data.unused",
             on_rows=True, advice_in="invalid_tool_call"),
    Detector("needless_tool_call", "a tool call the conversation never asked for", "tool_data.needless",
             "clarity", on_rows=True, advice_in="invalid_tool_call"),
    Detector("always_calls", "every conversation offering tools starts with a call: none answers in words",
             "tool_data.always_calls", advice=template("q_advice_always_calls"), on_rows=True),
    # preference pairs (quality/pairs.py, which the pairs' gate hands to quality/gate.py's check); one advice line
    Detector("empty_side", "a preference pair with an empty answer", "pairs.sides", "clarity",
             template("q_advice_pairs")),
    Detector("identical_sides", "a preference pair whose two answers are the same", "pairs.sides", "clarity",
             advice_in="empty_side"),
    Detector("rejected_better", "the rejected answer passes a check of the task the chosen one fails",
             "pairs.rejected_better", "clarity", advice_in="empty_side"),
)
BY_CODE = {d.code: d for d in DETECTORS}


def codes(score: str | None = None, fix: str | None = None) -> tuple[str, ...]:
    """The codes whose rows lower `score`, or that --fix handles as `fix`."""
    return tuple(d.code for d in DETECTORS if (score is None or d.score == score) and (fix is None or d.fix == fix))
