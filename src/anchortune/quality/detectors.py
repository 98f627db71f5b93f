"""The quality gate's detectors, declared once: each finding code with the words a person reads, where it is found,
the report score its rows lower, the advice it gives and what --fix does with its rows. quality/findings.py,
report.py, fix.py and html.py read this list; quality/gate.py runs the detectors (its order and what each is shown
is the gate's). A new detector is its module, one line here and its call in gate.check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detector:
    code: str
    words: str  # what a flagged row means
    found_by: str  # the function that finds it (module.function in quality/)
    score: str | None = None  # the report score its rows lower: relevance, diversity, balance or clarity
    advice: str | None = None  # the report's advice: {n} rows, {lines}, {limit} (the context length)
    fix: str | None = None  # what --fix does with its rows: "drop" or "review" (None: kept)


DETECTORS = (  # in the order the report's advice ranks ties
    Detector("exact_duplicate", "the same prompt and answer appear earlier", "duplicates.exact_duplicates",
             "diversity", "remove {n} exact duplicate(s) (lines {lines})", "drop"),
    Detector("near_duplicate", "almost the same prompt and answer appear earlier", "duplicates.near_duplicates",
             "diversity", "keep one of each near-duplicate group: {n} row(s) repeat another (lines {lines})", "drop"),
    Detector("contradiction", "a near-identical prompt has a conflicting answer", "duplicates.contradictions",
             "clarity", "review {n} contradiction(s): near-identical prompts with conflicting answers (lines {lines})",
             "review"),
    Detector("off_task", "far from the rest of the data (or the task description)", "relevance.off_task",
             "relevance", "check {n} off-task row(s) that do not fit the task (lines {lines})", "review"),
    Detector("unclear_answer", "the answer is empty, garbled, cut off or ignores its prompt", "gate._unclear_answers",
             "clarity", "rewrite {n} empty, garbled or cut-off answer(s) (lines {lines})"),
    Detector("invalid_output", "the answer does not have the task's output format", "output_format.invalid_outputs",
             "clarity", "fix {n} answer(s) that do not follow the output format (lines {lines})", "review"),
    Detector("personal_data", "contains personal data or a secret", "gate._personal_data",
             advice="mask personal data or secrets in {n} row(s) (lines {lines})"),
    Detector("language_mismatch", "the answer is in another language than the prompt", "gate._language_mismatches",
             "clarity", "answer in the prompt's language in {n} row(s) (lines {lines})"),
    Detector("too_long", "training would cut tokens off this example", "gate._token_lengths",
             advice="{n} row(s) exceed {limit} tokens (lines {lines}): shorten them or raise --max-length"),
    Detector("template_answer", "one answer reused for many different prompts", "balance.template_answers",
             "balance"),  # its advice names the templates (report.py)
)
BY_CODE = {d.code: d for d in DETECTORS}


def codes(score: str | None = None, fix: str | None = None) -> tuple[str, ...]:
    """The codes whose rows lower `score`, or that --fix handles as `fix`."""
    return tuple(d.code for d in DETECTORS if (score is None or d.score == score) and (fix is None or d.fix == fix))
