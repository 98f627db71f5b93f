"""Running every detector over a set of anchor points and assembling the report. The detectors whose order and
inputs interact (what one finds, another skips) are called here one by one; every other declared detector
(quality/detectors.py, `on_rows`) is run from the list on the same `Rows`.

The embedder and tokenizer are passed in (the check recipe, recipes/check.py, loads them); this module only computes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import numpy as np

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.quality import balance, detectors, duplicates, relevance
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import centered, lower_fence, nearest
from anchortune.quality.output_format import invalid_outputs
from anchortune.quality.report import QualityReport, build_report
from anchortune.quality.text import (CharModel, confidence_in, garbled_reason, in_language, languages, looks_cut_off,
                                     vocabulary, words)

NEIGHBOURS = 10
TOKEN_CHUNK = 2_000  # rows tokenised at a time for their lengths
CHAR_SAMPLE = 10_000  # rows whose letters make the character model and its fence
GARBLED_FENCE = 1.5  # Q1 - 1.5 IQR of the answers' character scores: letter sequences unlike the data's


def check(points: list[AnchorPoint], preset: Preset, embedder, tokenizer=None, max_length: int = 512,
          description: str | None = None, declared_labels: list[str] | None = None,
          ifd: Callable[[list[AnchorPoint]], list[float]] | None = None, judge=None,
          progress: Callable[[str, float], None] | None = None,
          extra: Callable[[list[Finding]], list[Finding]] | None = None) -> QualityReport:
    """The quality report for `points` under `preset` (labels/fields already resolved); `judge`
    (embeddings.Judge) decides by meaning whether two answers to one question conflict; `progress(stage,
    fraction)` hears how far the check has come (fractions of the work measured on 20,000 rows); `extra` turns the
    findings into those to report (preference pairs: quality/pairs.py). Tool-calling data gets its own checks
    (quality/tool_data.py, declared detectors run from the list)."""
    step = progress or (lambda stage, fraction: None)
    step("embedding prompts and answers", 0.0)
    prompts = [p.prompt for p in points]
    answers = [p.answer for p in points]
    vectors_p = embedder.embed_cached(prompts)
    vectors_a = embedder.embed_cached(answers)
    combined = vectors_p + vectors_a
    combined /= np.maximum(np.linalg.norm(combined, axis=1, keepdims=True), 1e-8)
    fmt = preset.output.format
    findings: list[Finding] = []
    findings += (exact := duplicates.exact_duplicates(points))
    step("looking for empty, garbled and cut-off answers", 0.05)
    unclear = _unclear_answers(points, fmt, getattr(embedder, "word_pieces", None))
    invalid = invalid_outputs(points, preset, declared_labels or [])
    step("detecting languages", 0.12)
    garbled = {u.line for u in unclear if "empty" in u.message or "garbled" in u.message}
    mismatched = [f for f in _language_mismatches(points) if f.line not in garbled] if fmt == "text" else []
    # rows no other detector should judge by their wording: unreadable, or in another language than their question
    unreadable = garbled | {f.line for f in mismatched}
    spread = centered(combined)  # computed once: 200 MB a copy at 200,000 rows
    if len(points) > 2:
        broken = unreadable | {f.line for f in invalid if f.severity == "error"}
        findings += _copies_and_conflicts(points, fmt, spread, vectors_p, vectors_a, exact, broken, judge, step)
    step("looking for off-task rows and personal data", 0.6)
    description_vector = embedder.embed([description])[0] if description else None
    # an extraction task's field values differ row by row by nature (every shop its own name): its documents say
    # what a row is about
    own_side = vectors_p if fmt == "json" else vectors_a
    off, relevance_scores = relevance.off_task(points, combined, own_side, description_vector)
    if fmt == "text":  # far rows and rows of a neighbouring domain, confirmed by the judge's meaning where there is one
        # a copy is reported as one already, and copies of one row would vouch for one another as a minority
        copies = {f.line for f in findings if f.code in ("exact_duplicate", "near_duplicate")}
        off = relevance.foreign_rows(points, centered(vectors_a), description, judge,
                                     frozenset(unreadable | copies), off)
        off += relevance.copies_of_off_task([f for f in findings if f.line in copies], off)
    elif fmt == "json":  # documents of another kind with the same fields (a payslip among receipts)
        off += relevance.foreign_documents(points, frozenset(unreadable | {f.line for f in off}))
    findings += mismatched + unclear + [f for f in off if f.line not in unreadable]
    findings += invalid
    rows = detectors.Rows(points, preset, vectors_p, vectors_a, tokenizer, max_length, frozenset(unreadable))
    findings += [f for d in detectors.DETECTORS if d.on_rows for f in d.finder()(rows)]  # one line each in DETECTORS
    groups, group_kind = balance.groups_of(points, spread)
    findings += balance.template_answers(points, fmt, groups)
    step("counting tokens", 0.78)
    lengths = _token_lengths(points, preset, tokenizer, max_length, findings) if tokenizer is not None else []
    if ifd is not None:
        step("scoring instruction-following difficulty with the model", 0.9)
        findings += _not_conditioned(points, ifd(points))
    on_topic = description_vector is None or relevance.matches_description(combined, description_vector)
    findings = list(dict.fromkeys(extra(findings) if extra else findings))  # a conflict found twice is reported once
    return build_report(points, preset, findings, groups=groups, group_kind=group_kind,
                        vendi=balance.vendi_score(spread), token_lengths=lengths,
                        max_length=max_length, relevance=relevance_scores, on_topic=on_topic)


def _copies_and_conflicts(points: list[AnchorPoint], fmt: str, spread: np.ndarray, vectors_p: np.ndarray,
                          vectors_a: np.ndarray, exact: list[Finding], broken: set[int], judge, step) -> list[Finding]:
    """Near duplicates (copies with typos, the same request in other words) and contradictions."""
    step("looking for duplicates and contradictions", 0.2)
    _, near_idx = nearest(spread, NEIGHBOURS)
    _, prompt_idx = nearest(centered(vectors_p), 2 * NEIGHBOURS)
    found = duplicates.near_duplicates(points, near_idx, {f.line for f in exact} | broken, fmt)
    if fmt == "json":
        found += duplicates.rescans(points, prompt_idx, {f.line for f in exact + found} | broken)
    if fmt == "text":
        step("looking for the same requests in other words", 0.3)
        _, answer_idx = nearest(centered(vectors_a), NEIGHBOURS)
        copies = {f.line for f in exact + found}
        found += duplicates.reworded(points, answer_idx, copies | broken, judge, centered(vectors_p))
    step("judging answers to the same question", 0.35)
    return found + duplicates.contradictions(points, prompt_idx, centered(vectors_a), fmt, broken, judge)


def _sample(n: int, size: int, seed: int = 0) -> list[int]:
    """All of range(n), or `size` of them drawn at random (sorted)."""
    if n <= size:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size, replace=False).tolist())


def _answer_texts(answer: str, fmt: str) -> list[str]:
    """What a person reads in an answer: each string value of a JSON answer (one garbled field is enough), else
    the answer."""
    if fmt == "json":
        try:
            value = json.loads(answer)
        except json.JSONDecodeError:
            return []
        return [v for v in value.values() if isinstance(v, str)] if isinstance(value, dict) else []
    return [answer]


def _unclear_answers(points: list[AnchorPoint], fmt: str, pieces=None) -> list[Finding]:
    findings = []
    vocab = vocabulary([p.prompt + " " + p.answer for p in points]) if fmt == "text" else None
    texts = [_answer_texts(p.answer, fmt) for p in points]
    # the data's letter statistics and their spread, from a sample on large data (the fence's quartiles are as
    # good from CHAR_SAMPLE rows as from all of them; scoring every row would cost ~1 ms a row)
    sample = _sample(len(points), CHAR_SAMPLE)
    chars = CharModel([points[i].prompt for i in sample] + [t for i in sample for t in texts[i]])
    scores = np.array([s for i in sample for t in texts[i] if (s := chars.score(t)) is not None])
    fence = lower_fence(scores, GARBLED_FENCE) if len(scores) >= 20 else None
    ends_cleanly = sum(not looks_cut_off(p.answer) for p in points) / max(1, len(points))
    for point, parts in zip(points, texts):
        answer = point.answer
        if not answer.strip():
            findings.append(Finding(point.line, "unclear_answer", "error", "the answer is empty"))
            continue
        reason = next((r for t in parts if (r := garbled_reason(t, vocab, pieces, chars, fence))), None) \
            if fmt != "label" else None
        if reason:
            findings.append(Finding(point.line, "unclear_answer", "warning", f"the answer looks garbled: {reason}"))
        elif fmt == "text" and ends_cleanly >= 0.9 and looks_cut_off(answer):
            findings.append(Finding(point.line, "unclear_answer", "warning",
                                    f"the answer seems cut off mid-sentence: '...{answer.rstrip()[-40:]}'"))
    return findings


ANSWER_WORDS = 4  # an answer this long (a short sentence) tells its language; a prompt needs PROMPT_WORDS
PROMPT_WORDS = 8  # short prompts full of typos and order numbers are often misread ('do udeliver to Toronto': it)
NOT_ASKED = 0.05  # lingua's (fast) confidence in the question's language under which an answer is suspect
CONFIRMED_NOT_ASKED = 0.3  # the accurate mode's, which spreads its confidence wider on a short text


def _language_mismatches(points: list[AnchorPoint]) -> list[Finding]:
    """Answers in another language than their question. The question's language is the data's own (the answers'
    most common), or the prompt's where a prompt of PROMPT_WORDS words or more clearly says another. Every answer of
    ANSWER_WORDS words or more is asked how likely it is in that language (lingua's fast mode screens under NOT_ASKED,
    its accurate mode confirms under CONFIRMED_NOT_ASKED): then it is a mismatch, named by the language lingua finds most likely. A question in
    another language answered in that language is not a mismatch."""
    answer_lang = languages([p.answer for p in points], min_words=ANSWER_WORDS)
    counts = Counter(lang for lang in answer_lang if lang)
    if not counts:
        return []
    own = counts.most_common(1)[0][0]
    prompt_lang = languages([p.prompt for p in points], min_words=PROMPT_WORDS)
    other = [k for k, lp in enumerate(prompt_lang) if lp and lp != own]  # the fast mode's surprises, confirmed
    for k, lp in zip(other, languages([points[k].prompt for k in other], min_words=PROMPT_WORDS, accurate=True)):
        prompt_lang[k] = lp
    asked = [lp or own for lp in prompt_lang]
    readable = [k for k, p in enumerate(points) if len(words(p.answer)) >= ANSWER_WORDS]
    screened = confidence_in([points[k].answer for k in readable], [asked[k] for k in readable])
    suspects = [k for k, c in zip(readable, screened) if c < NOT_ASKED]
    confirmed = confidence_in([points[k].answer for k in suspects], [asked[k] for k in suspects], accurate=True)
    named = languages([points[k].answer for k in suspects], min_words=1, min_confidence=0.0)
    findings = []
    for k, c, la in zip(suspects, confirmed, named):
        if c < CONFIRMED_NOT_ASKED:
            where = "the prompt is" if prompt_lang[k] else "the questions here are"
            findings.append(Finding(points[k].line, "language_mismatch", "warning",
                                    f"{where} {in_language(asked[k])} but the answer {in_language(la)}"))
    return findings


def _token_lengths(points: list[AnchorPoint], preset: Preset, tokenizer, max_length: int,
                   findings: list[Finding]) -> list[int]:
    from anchortune.data.tokenize import EncodingReport, encode

    report = EncodingReport(max_length=max_length)
    for start in range(0, len(points), TOKEN_CHUNK):  # by chunks: only the counts are kept, never the token ids
        _, part = encode(points[start:start + TOKEN_CHUNK], preset, tokenizer, max_length)
        report.lengths += part.lengths
        report.truncated_lines += part.truncated_lines
        report.dropped_lines += part.dropped_lines
    for line in report.truncated_lines:
        findings.append(Finding(line, "too_long", "warning", f"longer than {max_length} tokens: the end of the "
                                                             "answer would be cut off in training"))
    for line in report.dropped_lines:
        findings.append(Finding(line, "too_long", "error", f"the prompt alone fills {max_length} tokens: "
                                                           "training would drop this example"))
    return report.lengths


def _not_conditioned(points: list[AnchorPoint], scores: list[float]) -> list[Finding]:
    return [Finding(p.line, "unclear_answer", "warning",
                    f"the answer does not follow from its prompt (instruction-following difficulty {s:.2f} >= 1: "
                    "the base model finds it no easier with the prompt than without)")
            for p, s in zip(points, scores) if s >= 1.0]
