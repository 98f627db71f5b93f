"""The gate for preference pairs. The prompt with its chosen answer is judged as an anchor point is (relevance,
diversity, personal data, unclear and too-long answers: quality/gate.py); what only pairs can get wrong is judged
here, and replaces the gate's duplicate, contradiction and template findings (several pairs may share a prompt):

- identical sides (the same text up to case, spacing and punctuation) or an empty side: nothing to learn (error);
- a rejected answer better by the task's own checks: the chosen one is empty, garbled, cut off, in another language
  or not in the task's output format (a JSON task's fields, a label task's labels) while the rejected one is not
  (warning: the pair teaches the defect);
- the same pair again (warning), and contradictions: one pair prefers A to B where another prefers B to A for the
  same prompt (error);
- one-sided preferences, over the whole set: the chosen answer the longer (or the shorter) in nearly every pair, or
  one text chosen (or rejected) in a large share of pairs. A model tuned on them learns length or a phrase, not
  what makes an answer better: the verdict is poor (RLHF's length-bias findings; the gate's one-sided rule).
The rejected side's length is counted against the context as the chosen side's is.
"""

from __future__ import annotations

from collections import Counter

from anchortune.data.pairs import PreferencePair
from anchortune.data.presets import Preset
from anchortune.messages import say
from anchortune.quality.findings import Finding
from anchortune.quality.text import normalise

LONGER_SHARE = 0.9  # the chosen side the longer (or the shorter) in this share of pairs: one-sided
SAME_TEXT_SHARE = 0.3  # one text on a side in this share of pairs: one-sided (the gate's template rule)
MIN_PAIRS = 20  # fewer pairs than this say nothing about the set's lean
REPLACED = ("exact_duplicate", "near_duplicate", "contradiction", "template_answer")
FAILED_BY_TASK = ("unclear_answer", "invalid_output", "language_mismatch")
FINE = "relevant, diverse, balanced and clear"  # the reason of a report with nothing to say (quality/report.py)


def check_pairs(pairs: list[PreferencePair], preset: Preset, embedder, tokenizer=None, max_length: int = 512,
                judge=None, progress=None):
    """The quality report of a set of preference pairs (QualityReport, as the gate writes one)."""
    from anchortune.quality.gate import check

    chosen = [p.side("chosen") for p in pairs]
    report = check(chosen, preset, embedder, tokenizer, max_length, judge=judge, progress=progress,
                   extra=lambda found: pair_findings(pairs, preset, found, tokenizer, max_length))
    sided = one_sided(pairs)
    if sided:
        report.reasons = [sided] + [r for r in report.reasons if r != FINE]
        report.verdict = "poor"
        advice = say("q_advice_pairs_one_sided")
        report.advice = [advice[0].upper() + advice[1:]] + report.advice[:6]
    return report


def pair_findings(pairs: list[PreferencePair], preset: Preset, found: list[Finding], tokenizer=None,
                  max_length: int = 512) -> list[Finding]:
    """The gate's findings on the chosen sides without those pairs replace, with every pair finding added."""
    kept = [f for f in found if f.code not in REPLACED]
    return kept + sides(pairs) + rejected_better(pairs, preset, found) + repeats(pairs) \
        + _rejected_too_long(pairs, preset, tokenizer, max_length)


def sides(pairs: list[PreferencePair]) -> list[Finding]:
    """Empty or identical sides."""
    found = []
    for pair in pairs:
        chosen, rejected = normalise(pair.chosen_text), normalise(pair.rejected_text)
        if not chosen or not rejected:
            found.append(Finding(pair.line, "empty_side", "error",
                                 say("f_pair_empty_chosen" if not chosen else "f_pair_empty_rejected")))
        elif chosen == rejected:
            found.append(Finding(pair.line, "identical_sides", "error", say("f_pair_identical")))
    return found


def rejected_better(pairs: list[PreferencePair], preset: Preset, found: list[Finding]) -> list[Finding]:
    """Pairs whose chosen answer fails one of the task's checks that its rejected answer passes."""
    from anchortune.quality.gate import _unclear_answers as unclear_answers
    from anchortune.quality.output_format import invalid_outputs

    failed = {}
    for finding in found:
        if finding.code in FAILED_BY_TASK and finding.at_least("warning"):
            failed.setdefault(finding.line, finding)
    if not failed:
        return []
    suspects = [p for p in pairs if p.line in failed and normalise(p.rejected_text)]
    rejected = [p.side("rejected") for p in suspects]
    fails_too = {f.line for f in unclear_answers(rejected, preset.output.format) + invalid_outputs(rejected, preset, [])
                 if f.at_least("warning")}
    return [Finding(p.line, "rejected_better", "warning", say("f_pair_rejected_better", why=failed[p.line].message))
            for p in suspects if p.line not in fails_too]


def repeats(pairs: list[PreferencePair]) -> list[Finding]:
    """The same pair again, and pairs that prefer the other way round for the same prompt."""
    seen: dict[tuple[str, str, str], int] = {}
    found = []
    for pair in pairs:
        prompt = normalise(" ".join(m.get("content") or "" for m in pair.prompt))
        chosen, rejected = normalise(pair.chosen_text), normalise(pair.rejected_text)
        if (prompt, rejected, chosen) in seen and chosen != rejected:
            other = seen[(prompt, rejected, chosen)]
            found.append(Finding(pair.line, "contradiction", "error", say("f_pair_contradiction", line=other),
                                 (other,)))
        elif (prompt, chosen, rejected) in seen:
            other = seen[(prompt, chosen, rejected)]
            found.append(Finding(pair.line, "exact_duplicate", "warning", say("f_pair_duplicate", line=other),
                                 (other,)))
        seen.setdefault((prompt, chosen, rejected), pair.line)
    return found


def one_sided(pairs: list[PreferencePair]) -> str | None:
    """Why the set's preferences are one-sided (the reason the report gives), or None."""
    if len(pairs) < MIN_PAIRS:
        return None
    lengths = [(len(p.chosen_text.split()), len(p.rejected_text.split())) for p in pairs]
    differ = [(c, r) for c, r in lengths if c != r]
    longer = sum(c > r for c, r in differ) / len(differ) if differ else 0.0
    if differ and longer >= LONGER_SHARE:
        return say("q_pairs_longer", share=f"{longer:.0%}")
    if differ and 1 - longer >= LONGER_SHARE:
        return say("q_pairs_shorter", share=f"{1 - longer:.0%}")
    for side in ("chosen", "rejected"):
        texts = Counter(normalise(p.chosen_text if side == "chosen" else p.rejected_text) for p in pairs)
        text, count = texts.most_common(1)[0]
        if count / len(pairs) >= SAME_TEXT_SHARE:
            shown = next(p.chosen_text if side == "chosen" else p.rejected_text for p in pairs
                         if normalise(p.chosen_text if side == "chosen" else p.rejected_text) == text)
            return say(f"q_pairs_same_{side}", share=f"{count / len(pairs):.0%}", text=shown[:60])
    return None


def _rejected_too_long(pairs: list[PreferencePair], preset: Preset, tokenizer, max_length: int) -> list[Finding]:
    """Rejected answers that training would cut (the chosen side's are the gate's own too_long findings)."""
    if tokenizer is None:
        return []
    from anchortune.data.tokenize import encode

    _, report = encode([p.side("rejected") for p in pairs], preset, tokenizer, max_length)
    return [Finding(line, "too_long", "warning", say("f_pair_rejected_long", limit=max_length))
            for line in report.truncated_lines + report.dropped_lines]
