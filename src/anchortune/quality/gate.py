"""Running every detector over a set of anchor points and assembling the report.

The embedder and tokenizer are passed in (the service loads them); this module only computes.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.quality import balance, duplicates, relevance
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import centered, nearest
from anchortune.quality.output_format import invalid_outputs
from anchortune.quality.pii import find_personal_data
from anchortune.quality.report import QualityReport, build_report
from anchortune.quality.text import garbled_reason, languages, looks_cut_off, vocabulary

NEIGHBOURS = 10


def check(points: list[AnchorPoint], preset: Preset, embedder, tokenizer=None, max_length: int = 512,
          description: str | None = None, declared_labels: list[str] | None = None,
          ifd: Callable[[list[AnchorPoint]], list[float]] | None = None) -> QualityReport:
    """The quality report for `points` under `preset` (labels/fields already resolved)."""
    prompts = [p.prompt for p in points]
    answers = [p.answer for p in points]
    vectors_p = embedder.embed_cached(prompts)
    vectors_a = embedder.embed_cached(answers)
    combined = vectors_p + vectors_a
    combined /= np.maximum(np.linalg.norm(combined, axis=1, keepdims=True), 1e-8)
    fmt = preset.output.format
    findings: list[Finding] = []
    findings += (exact := duplicates.exact_duplicates(points))
    unclear = _unclear_answers(points, fmt, getattr(embedder, "word_pieces", None))
    invalid = invalid_outputs(points, preset, declared_labels or [])
    unreadable = {u.line for u in unclear if "empty" in u.message or "garbled" in u.message}
    if len(points) > 2:
        _, near_idx = nearest(centered(combined), NEIGHBOURS)
        _, prompt_idx = nearest(centered(vectors_p), 2 * NEIGHBOURS)
        findings += duplicates.near_duplicates(points, near_idx, {f.line for f in exact}, fmt)
        broken = unreadable | {f.line for f in invalid if f.severity == "error"}
        findings += duplicates.contradictions(points, prompt_idx, centered(vectors_a), fmt, broken)
    description_vector = embedder.embed([description])[0] if description else None
    off, relevance_scores = relevance.off_task(points, combined, vectors_a, description_vector)
    findings += unclear + [f for f in off if f.line not in unreadable]
    findings += invalid
    findings += _personal_data(points, set(preset.quality.expected_personal_data))
    groups, group_kind = balance.groups_of(points, centered(combined))
    findings += balance.template_answers(points, fmt, groups)
    if fmt == "text":
        findings += _language_mismatches(points)
    lengths = _token_lengths(points, preset, tokenizer, max_length, findings) if tokenizer is not None else []
    if ifd is not None:
        findings += _not_conditioned(points, ifd(points))
    on_topic = description_vector is None or relevance.matches_description(combined, description_vector)
    return build_report(points, preset, findings, groups=groups, group_kind=group_kind,
                        vendi=balance.vendi_score(centered(combined)), token_lengths=lengths,
                        max_length=max_length, relevance=relevance_scores, on_topic=on_topic)


def _answer_text(answer: str, fmt: str) -> str:
    """What a person reads in an answer: the string values of a JSON answer, else the answer."""
    if fmt == "json":
        try:
            value = json.loads(answer)
        except json.JSONDecodeError:
            return ""
        if isinstance(value, dict):
            return " ".join(str(v) for v in value.values() if isinstance(v, str))
        return ""
    return answer


def _unclear_answers(points: list[AnchorPoint], fmt: str, pieces=None) -> list[Finding]:
    findings = []
    vocab = vocabulary([p.prompt + " " + p.answer for p in points]) if fmt == "text" else None
    ends_cleanly = sum(not looks_cut_off(p.answer) for p in points) / max(1, len(points))
    for point in points:
        answer = point.answer
        if not answer.strip():
            findings.append(Finding(point.line, "unclear_answer", "error", "the answer is empty"))
            continue
        if fmt != "label" and (reason := garbled_reason(_answer_text(answer, fmt), vocab, pieces)):
            findings.append(Finding(point.line, "unclear_answer", "warning", f"the answer looks garbled: {reason}"))
        elif fmt == "text" and ends_cleanly >= 0.9 and looks_cut_off(answer):
            findings.append(Finding(point.line, "unclear_answer", "warning",
                                    f"the answer seems cut off mid-sentence: '...{answer.rstrip()[-40:]}'"))
    return findings


def _personal_data(points: list[AnchorPoint], expected: set[str]) -> list[Finding]:
    """Personal data and secrets; phone numbers, and the kinds the preset expects in its documents
    (a vendor's e-mail and IBAN on an invoice), are reported at info level only."""
    findings = []
    for point in points:
        kinds = find_personal_data("\n".join(m["content"] for m in point.messages))
        if kinds:
            severity = "info" if set(kinds) <= expected | {"phone number"} else "warning"
            findings.append(Finding(point.line, "personal_data", severity,
                                    f"contains {', '.join(kinds)}; remove or mask it before training"))
    return findings


def _language_mismatches(points: list[AnchorPoint]) -> list[Finding]:
    prompt_lang = languages([p.prompt for p in points], min_words=8)
    known = [(p, lp) for p, lp in zip(points, prompt_lang) if lp]
    answer_lang = languages([p.answer for p, _ in known], min_words=6)
    suspects = [p for (p, lp), la in zip(known, answer_lang) if la and lp != la]
    confirmed_p = languages([p.prompt for p in suspects], min_words=8, accurate=True)
    confirmed_a = languages([p.answer for p in suspects], min_words=6, accurate=True)
    return [Finding(p.line, "language_mismatch", "warning", f"the prompt is in '{lp}' but the answer in '{la}'")
            for p, lp, la in zip(suspects, confirmed_p, confirmed_a) if lp and la and lp != la]


def _token_lengths(points: list[AnchorPoint], preset: Preset, tokenizer, max_length: int,
                   findings: list[Finding]) -> list[int]:
    from anchortune.data.tokenize import encode

    _, report = encode(points, preset, tokenizer, max_length)
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
