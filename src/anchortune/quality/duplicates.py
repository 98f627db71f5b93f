"""Exact duplicates, near duplicates and contradictions.

Exact: the same prompt and answer once Unicode forms, case, punctuation and spacing are folded (text.normalise:
what a reader sees as the same text). Near: character 5-gram Jaccard of prompt + answer >= 0.85 (the MinHash rule
of SemHash/datatrove, computed exactly on embedding-neighbour candidates instead of hashed), and prompts that read
the same (edit-similarity >= 0.8); or the same request in other words (`reworded`): an answer word for word almost
the same as an earlier one's, under a question that means the same by the contextual judge. Contradiction: the same
question asked twice (equal once folded, or up to typos, numbers and filler words, see text.same_question; or in
other words, as above) with conflicting answers: different labels, different JSON field values, a fact changed in
an otherwise equal answer (facts.conflicts: a number, a negation, yes/no), or free-text answers that mean different
things (see `contradictions`). A contradiction names both lines and the words that differ. The later line is
flagged, or for free text the answer that fits the question worse; `related` names the other.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from difflib import SequenceMatcher

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality import facts
from anchortune.quality.documents import same_document
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import lower_fence
from anchortune.quality.text import hashed_jaccard, normalise, question_words, same_question_words, shingle_hashes

NEAR = 0.85
SAME_PROMPT = 0.8


def candidate_pairs(neighbours: np.ndarray) -> list[tuple[int, int]]:
    """(later, earlier) index pairs where either row is among the other's nearest neighbours,
    sorted so each later row meets its earliest partner first."""
    pairs = {(max(i, int(j)), min(i, int(j))) for i, row in enumerate(neighbours) for j in row if int(j) != i}
    return sorted(pairs)


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


def near_duplicates(points: list[AnchorPoint], neighbours: np.ndarray, skip: set[int], fmt: str = "text"
                    ) -> list[Finding]:
    """Later rows whose prompt+answer shingles overlap an earlier neighbour's by >= NEAR (not exact copies).
    For JSON answers the fields must also agree (numbers exactly, text up to typos): two receipts of one
    shop on different days are different examples, however alike their text."""
    grams: dict[int, object] = {}

    def gram(i: int):
        if i not in grams:
            grams[i] = shingle_hashes(points[i].prompt + "\n" + points[i].answer)
        return grams[i]
    findings, flagged = [], set()
    for i, j in candidate_pairs(neighbours):
        if i in flagged or points[i].line in skip:
            continue
        a, b = gram(i), gram(j)
        if min(len(a), len(b)) < NEAR * max(len(a), len(b)):  # Jaccard is at most the sizes' ratio
            continue
        score = hashed_jaccard(a, b)
        if score >= NEAR and _reads_same(points[i].prompt, points[j].prompt) and (
                fmt != "json" or _same_fields(points[i].answer, points[j].answer)
                or same_document(points[i].prompt, points[j].prompt)):
            flagged.add(i)
            findings.append(_copy_or_conflict(points[i], points[j], fmt, f"{score:.0%} the same as line {points[j].line}"))
    return findings


def _copy_or_conflict(a: AnchorPoint, b: AnchorPoint, fmt: str, why: str) -> Finding:
    """`a` repeats `b`: a contradiction where their answers state a different fact, else a near duplicate (`why`)."""
    return fact_conflict(a, b, fmt) or Finding(a.line, "near_duplicate", "warning", why, (b.line,))


def fact_conflict(a: AnchorPoint, b: AnchorPoint, fmt: str) -> Finding | None:
    """A contradiction finding when two answers to one request state a different fact (facts.conflicts), else None.
    For one document read twice (JSON), any field that differs once case, spacing and punctuation are folded is a
    conflict: a name spelt two ways is two labels for one thing."""
    if fmt == "label":
        return None
    found = (facts.field_conflicts(a.answer, b.answer, lambda x, y: normalise(x) == normalise(y)) if fmt == "json"
             else facts.conflicts(a.answer, b.answer, (a.prompt, b.prompt)))
    if not found:
        return None
    return Finding(a.line, "contradiction", "warning", f"the same question as line {b.line}, a conflicting answer: "
                   + "; ".join(c.describe(a.line, b.line) for c in found), (b.line,))


def _reads_same(a: str, b: str) -> bool:
    return SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio() >= SAME_PROMPT


def _same_fields(a: str, b: str) -> bool:
    fa, fb = _json_fields(a), _json_fields(b)
    if fa is None or fb is None:
        return normalise(a) == normalise(b)
    return all(_same_value(str(fa.get(k, "")), str(fb.get(k, ""))) for k in set(fa) | set(fb))


def _same_value(x: str, y: str) -> bool:
    """One field value up to typos: the same digits, and text that reads the same."""
    return re.sub(r"\D", "", x) == re.sub(r"\D", "", y) and _reads_same(x, y)


def _json_fields(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _conflict(a: AnchorPoint, b: AnchorPoint, fmt: str, answer_sim: float, fence: float) -> str | None:
    """Why two answers to near-identical prompts conflict, or None."""
    if a.label is not None and b.label is not None and a.label != b.label:
        return f"line {a.line}: label '{a.label}' — line {b.line}: label '{b.label}'"
    if fmt == "label":
        return (f"line {a.line}: '{a.answer.strip()}' — line {b.line}: '{b.answer.strip()}'"
                if normalise(a.answer) != normalise(b.answer) else None)
    if fmt == "json":
        found = facts.field_conflicts(a.answer, b.answer, _same_value)
        return "; ".join(c.describe(a.line, b.line) for c in found) if found else None
    if answer_sim < fence:
        return f"its answer is unrelated to line {b.line}'s answer to almost the same prompt"
    return None


def same_question_pairs(points: list[AnchorPoint], prompt_neighbours: np.ndarray, fmt: str, skip: set[int]
                        ) -> list[tuple[int, int]]:
    """(later, earlier) rows asking the same question: prompts equal once case, spacing, punctuation and Unicode
    forms are folded (grouped exactly, however many there are), or embedding neighbours equal up to typos."""
    groups: dict[str, list[int]] = {}
    for i, point in enumerate(points):
        if point.line not in skip:
            groups.setdefault(normalise(point.prompt), []).append(i)
    pairs = {(members[k], members[0]) for members in groups.values() for k in range(1, len(members))}
    keys: dict[int, tuple[str, ...]] = {}

    def key(i: int) -> tuple[str, ...]:
        if i not in keys:
            keys[i] = question_words(points[i].prompt, ignore_numbers=fmt != "json")
        return keys[i]
    pairs |= {(i, j) for i, j in candidate_pairs(prompt_neighbours)
              if points[i].line not in skip and points[j].line not in skip and same_question_words(key(i), key(j))}
    return sorted(pairs)


def contradictions(points: list[AnchorPoint], prompt_neighbours: np.ndarray, answers: np.ndarray, fmt: str,
                   skip: set[int], judge=None) -> list[Finding]:
    """The same question asked twice with conflicting answers (answers: centred unit embeddings).

    Labels and JSON fields conflict outright. Free-text answers are judged by meaning against the data's own
    spread: with `judge` (contextual MiniLM vectors, embeddings.Judge), two answers conflict when they are no more
    alike than the answers to two different questions of the data usually are (under the 90th percentile of the
    answer similarity of random pairs of rows) and one of them fits its question no better than a
    random answer does (its prompt-answer similarity under the 95th percentile of random prompt-answer pairs);
    that one is flagged. Measured on Bitext with answers of other intents pasted under a repeated question
    (bench/quality_gate.py, injector b): precision 0.97-0.98, recall 0.95-0.96, with and without labels. Pairs the
    judge does not see (static similarity above STATIC_SURE, or past JUDGED_ROWS) and runs without a judge use the
    static vectors' similarity below Q1 - 1.0 IQR of all same-question pairs' (recall 0.44 there)."""
    pairs = [(i, j, float(answers[i] @ answers[j])) for i, j in same_question_pairs(points, prompt_neighbours, fmt,
                                                                                    skip)
             if fmt != "json" or same_document(points[i].prompt, points[j].prompt)]  # one shop's receipts are many
    sims = np.array([sim for _, _, sim in pairs])
    fence = lower_fence(sims, 1.0) if len(sims) >= 20 else -1.0
    judged = _judged(points, pairs, judge) if judge is not None and fmt == "text" else None
    findings, flagged = [], set()
    for i, j, sim in pairs:
        if i in flagged or j in flagged:
            continue
        if fmt == "text" and not _labelled_apart(points[i], points[j]) and \
                facts.alike(points[i].answer, points[j].answer) >= FACT_ALIKE and \
                (finding := fact_conflict(points[i], points[j], fmt)):
            flagged.add(i)
            findings.append(finding)
            continue
        verdict = judged(i, j) if judged is not None and not _labelled_apart(points[i], points[j]) else False
        reason = _conflict(points[i], points[j], fmt, sim, fence) if verdict is False else verdict
        if isinstance(reason, tuple):
            reason, (i, j) = reason
        if reason:
            flagged.add(i)
            findings.append(Finding(points[i].line, "contradiction", "warning",
                                    f"the same question as line {points[j].line}, a conflicting answer: {reason}",
                                    (points[j].line,)))
    return findings


FACT_ALIKE = 0.6  # two answers this alike word for word say the same thing: a changed fact between them conflicts
PAIR_NULL, FIT_NULL = 90, 95  # percentiles of the random-pair references (see `contradictions`)
SWAP_MARGIN = 0.1  # how much better the other row's answer must fit the question than its own
JUDGED_ROWS = 4000  # rows the judge embeds at most (~1,200 on 4,000 Bitext rows; ~40 s on 2 cores), least alike first
NULL_ROWS = 200  # random rows of the data beside the judged ones: the references' sample
STATIC_SURE = 0.6  # static similarity above which two answers are alike without asking the judge


def _labelled_apart(a: AnchorPoint, b: AnchorPoint) -> bool:
    return a.label is not None and b.label is not None and a.label != b.label


def _judged(points: list[AnchorPoint], pairs: list[tuple[int, int, float]], judge):
    """A function (i, j) -> (reason, (flagged row, other row)), None (no conflict), or False (not judged: a pair
    the static vectors call alike, or one past JUDGED_ROWS), from the judge's vectors."""
    doubtful = sorted((sim, i, j) for i, j, sim in pairs if sim < STATIC_SURE)  # least alike first
    rows: set[int] = set()
    for _, i, j in doubtful:
        if len(rows) >= JUDGED_ROWS:  # a bound on the judge's work on very large data: the rest stay unjudged
            break
        rows |= {i, j}
    rows = sorted(rows)
    judged_rows = set(rows)
    if not rows:
        return None
    rng = np.random.default_rng(0)
    reference = sorted(set(rng.choice(len(points), min(len(points), NULL_ROWS), replace=False).tolist()) - set(rows))
    at = {row: k for k, row in enumerate(rows + reference)}
    answers = judge.embed([points[r].answer for r in rows + reference])
    prompts = judge.embed([points[r].prompt for r in rows + reference])
    order = rng.permutation(len(at))
    pair_null = np.percentile(np.einsum("ij,ij->i", answers, answers[order]), PAIR_NULL)
    fit_null = np.percentile(np.einsum("ij,ij->i", prompts, answers[order]), FIT_NULL)

    def judge_pair(i: int, j: int):
        if i not in judged_rows or j not in judged_rows:
            return False
        alike = float(answers[at[i]] @ answers[at[j]])
        fit_i, fit_j = (float(prompts[at[x]] @ answers[at[x]]) for x in (i, j))
        if alike >= pair_null or min(fit_i, fit_j) >= fit_null:
            return None
        worse, better = (i, j) if fit_i <= fit_j else (j, i)
        # the other row's answer must fit this question clearly better than its own: two differently worded answers
        # to one request fit it about equally (Bitext's refund answers), an answer pasted from another request not
        swapped = float(prompts[at[worse]] @ answers[at[better]]) - min(fit_i, fit_j)
        if swapped < SWAP_MARGIN:
            return None
        return (f"its answer means something else (answer similarity {alike:.2f}, under the {pair_null:.2f} of "
                f"answers to different questions here) and fits the question no better than a random answer "
                f"({min(fit_i, fit_j):.2f}, random {fit_null:.2f})", (worse, better))
    return judge_pair


ANSWER_SAME = 0.9  # word-level likeness (facts.alike) of an answer kept or lightly reworded (fitted, see `reworded`)
REWORDED_WORDS = 8  # answers shorter than this are too generic ("Yes, you can.") to call two rows one
ANSWER_REUSE_STYLE = 0.15  # share of rows in reworded pairs above which answer reuse is the data's own style
PROMPT_NULL = 90  # percentile of the judge's similarity between random prompts that a rewording must pass
SAME_ANSWER = 0.97  # an answer this alike is the same answer: its prompt need only pass the PROMPT_NULL_SAME-th
PROMPT_NULL_SAME = 75  # (MiniLM scores "have a word with a live operator" / "speak with a human agent" at 0.31)
STOCK_SHARE = 0.25  # a word in more of the answers than this is the data's stock wording (`stock_words`)
STOCK_SAMPLE = 2000  # answers the stock words are counted on


def reworded(points: list[AnchorPoint], answer_neighbours: np.ndarray, skip: set[int], judge=None,
             prompts: np.ndarray | None = None) -> list[Finding]:
    """The same request in other words: a later row whose answer is word for word almost an earlier one's (facts.alike
    >= ANSWER_SAME: the answer kept, or a few words swapped) under a question that means the same: the judge's
    (contextual MiniLM) similarity of the two prompts above the PROMPT_NULL-th percentile of random prompt pairs of
    the data, or the PROMPT_NULL_SAME-th where the answers are the same (SAME_ANSWER) (without a judge, `prompts`'
    static vectors, the same way). Two such rows teach one example twice: a
    near duplicate; where the answers state a different fact, a contradiction (`fact_conflict`). A data set that gives
    one canonical answer to many phrasings (FAQ style: more than ANSWER_REUSE_STYLE of its rows share an answer) does
    so by design: nothing is flagged there (its repeated questions with conflicting facts are `contradictions`'
    work). Rows in `skip` (already flagged as copies) are left alone. Free-text tasks only."""
    grams: dict[int, object] = {}

    def gram(i: int):
        if i not in grams:
            grams[i] = shingle_hashes(points[i].answer)
        return grams[i]
    candidates, rows, most = [], set(), ANSWER_REUSE_STYLE * len(points)
    for i, j in candidate_pairs(answer_neighbours):
        if points[i].line in skip or points[j].line in skip or _labelled_apart(points[i], points[j]):
            continue
        if min(len(points[i].answer.split()), len(points[j].answer.split())) < REWORDED_WORDS:
            continue
        a, b = gram(i), gram(j)
        if min(len(a), len(b)) < 0.7 * max(len(a), len(b)) or hashed_jaccard(a, b) < 0.5:  # cheap bounds first
            continue
        if (likeness := facts.alike(points[i].answer, points[j].answer)) >= ANSWER_SAME:
            candidates.append((i, j, likeness))
            rows |= {i, j}
            if len(rows) > most:  # the data's own style: stop before the judge's work
                return []
    if not candidates:
        return []
    same_request = _same_request(points, [(i, j) for i, j, _ in candidates], judge, prompts)
    stock = stock_words(points)
    findings, flagged = [], set()
    for i, j, likeness in candidates:
        if i in flagged or not same_request(i, j, likeness >= SAME_ANSWER) or facts.follow_questions(
                points[i].answer, points[j].answer, points[i].prompt, points[j].prompt, stock):
            continue
        flagged.add(i)
        findings.append(_copy_or_conflict(points[i], points[j], "text", f"the same request as line {points[j].line} "
                                          "in other words, with the same answer: one example twice"))
    return findings


def stock_words(points: list[AnchorPoint]) -> frozenset[str]:
    """Words in more than STOCK_SHARE of the answers (counted on a seeded sample of STOCK_SAMPLE): the data's own
    stock wording ('assistance', 'support', 'account' in a support set), which a rewording swaps freely and which
    names no request (see facts.follow_questions)."""
    rows = range(len(points)) if len(points) <= STOCK_SAMPLE else \
        np.random.default_rng(0).choice(len(points), STOCK_SAMPLE, replace=False).tolist()
    counts = Counter(w for i in rows for w in facts.content_words(points[i].answer))
    return frozenset(w for w, c in counts.items() if c > STOCK_SHARE * len(rows))


def _same_request(points: list[AnchorPoint], pairs: list[tuple[int, int]], judge, prompts: np.ndarray | None):
    """A function (i, j, same answer) -> whether two rows' prompts mean the same, against random pairs of the data's
    prompts (PROMPT_NULL, or PROMPT_NULL_SAME for rows with the same answer)."""
    rows = sorted({r for pair in pairs for r in pair})
    rng = np.random.default_rng(0)
    reference = sorted(set(rng.choice(len(points), min(len(points), NULL_ROWS), replace=False).tolist()) - set(rows))
    at = {row: k for k, row in enumerate(rows + reference)}
    if judge is not None:
        vectors = judge.embed([points[r].prompt for r in rows + reference])
    elif prompts is not None:
        vectors = prompts[rows + reference]
    else:
        return lambda i, j, same: _reads_same(points[i].prompt, points[j].prompt)
    order = rng.permutation(len(at))
    null, null_same = np.percentile(np.einsum("ij,ij->i", vectors, vectors[order]), [PROMPT_NULL, PROMPT_NULL_SAME])
    return lambda i, j, same: _reads_same(points[i].prompt, points[j].prompt) or float(
        vectors[at[i]] @ vectors[at[j]]) >= (null_same if same else null)


def rescans(points: list[AnchorPoint], prompt_neighbours: np.ndarray, skip: set[int]) -> list[Finding]:
    """The same document twice (JSON tasks): a near duplicate where the fields agree (up to typos), a contradiction
    naming the fields that differ otherwise. Rows in `skip` are left alone."""
    findings, flagged = [], set()
    for i, j in candidate_pairs(prompt_neighbours):
        if i in flagged or points[i].line in skip or points[j].line in skip:
            continue
        if not same_document(points[i].prompt, points[j].prompt):
            continue
        flagged.add(i)
        findings.append(_copy_or_conflict(points[i], points[j], "json", f"the same document as line {points[j].line} "
                                          "again (another scan or copy) with the same fields"))
    return findings
