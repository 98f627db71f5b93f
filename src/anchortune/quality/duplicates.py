"""Exact duplicates, near duplicates and contradictions.

Exact: the same normalised prompt and answer. Near: character 5-gram Jaccard of prompt + answer
>= 0.85 (the MinHash rule of SemHash/datatrove, computed exactly on embedding-neighbour candidates
instead of hashed), and prompts that read the same (edit-similarity >= 0.8): two different
questions that share one long answer are rephrasings worth keeping, not duplicates. Contradiction: near-identical prompts (Jaccard >= 0.8) whose answers conflict:
different labels, different JSON field values, or answers as unrelated as the data's own lower fence
of answer similarity between neighbouring prompts. The later line is flagged; `related` names the
earlier one.
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import lower_fence
from anchortune.quality.text import jaccard, normalise, shingles

NEAR = 0.85
SAME_PROMPT = 0.8


def exact_duplicates(points: list[AnchorPoint]) -> list[Finding]:
    first: dict[tuple[str, str], int] = {}
    findings = []
    for point in points:
        key = (normalise(point.prompt), normalise(point.answer))
        if key in first:
            findings.append(Finding(point.line, "exact_duplicate", "warning",
                                    f"same prompt and answer as line {first[key]}", (first[key],)))
        else:
            first[key] = point.line
    return findings


def near_duplicates(points: list[AnchorPoint], neighbours: np.ndarray, skip: set[int]) -> list[Finding]:
    """Later rows whose prompt+answer shingles overlap an earlier neighbour's by >= NEAR (not exact copies)."""
    grams = [shingles(p.prompt + "\n" + p.answer) for p in points]
    findings = []
    for i, row in enumerate(neighbours):
        if points[i].line in skip:
            continue
        for j in sorted(int(j) for j in row if j < i):
            score = jaccard(grams[i], grams[j])
            if score >= NEAR and _reads_same(points[i].prompt, points[j].prompt):
                findings.append(Finding(points[i].line, "near_duplicate", "warning",
                                        f"{score:.0%} the same as line {points[j].line}", (points[j].line,)))
                break
    return findings


def _reads_same(a: str, b: str) -> bool:
    return SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio() >= SAME_PROMPT


def _json_fields(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _conflict(a: AnchorPoint, b: AnchorPoint, fmt: str, answer_sim: float, fence: float) -> str | None:
    """Why two answers to near-identical prompts conflict, or None."""
    if a.label is not None and b.label is not None and a.label != b.label:
        return f"label '{a.label}' where line {b.line} says '{b.label}'"
    if fmt == "label":
        return (f"answer '{a.answer.strip()}' where line {b.line} says '{b.answer.strip()}'"
                if normalise(a.answer) != normalise(b.answer) else None)
    if fmt == "json":
        fa, fb = _json_fields(a.answer), _json_fields(b.answer)
        if fa is None or fb is None:
            return None
        differ = [k for k in fa if k in fb and normalise(str(fa[k])) != normalise(str(fb[k]))
                  and (str(fb[k]) in a.prompt or str(fa[k]) not in a.prompt)]
        return f"field(s) {', '.join(differ)} differ from line {b.line}" if differ else None
    if answer_sim < fence:
        return f"its answer is unrelated to line {b.line}'s answer to almost the same prompt"
    return None


def contradictions(points: list[AnchorPoint], prompt_neighbours: np.ndarray, answers: np.ndarray, fmt: str
                   ) -> list[Finding]:
    """Near-identical prompts with conflicting answers (answers: centred unit embeddings)."""
    nearest_answer_sim = np.einsum("ij,ij->i", answers, answers[prompt_neighbours[:, 0]])
    fence = min(lower_fence(nearest_answer_sim), float(np.percentile(nearest_answer_sim, 2)))
    grams = [shingles(p.prompt) for p in points]
    findings = []
    for i, row in enumerate(prompt_neighbours):
        for j in sorted(int(j) for j in row if j < i):
            if jaccard(grams[i], grams[j]) < SAME_PROMPT:
                continue
            reason = _conflict(points[i], points[j], fmt, float(answers[i] @ answers[j]), fence)
            if reason:
                findings.append(Finding(points[i].line, "contradiction", "warning",
                                        f"near-identical prompt, conflicting answer: {reason}", (points[j].line,)))
                break
    return findings
