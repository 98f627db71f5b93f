"""Off-task examples: far from the data's own centre, or from the task description when one is given.

Score: the robust z-scores ((x - median) / IQR) of two distances added, the row's prompt+answer
embedding to the data's centre and its answer embedding to the answers' centre (for JSON tasks its
document's to the documents' centre: field values differ row by row by nature, and on SROIE a rare chain's
unusual fields had pushed real receipts over the fence); flagged above Tukey's far-out fence Q3 + 3 IQR of
that score. Injected off-task receipts score 12.5 and more against that fence's ~7.3 with either side;
with the documents' side no real receipt of the two injectors' runs passes 7.5 (with the answers' 8.1). Measured with 3 % injected rows from other domains
(bench/quality_gate.py): on Bitext recall 0.99 with 0.2 % of clean rows flagged, on SROIE receipts
recall 1.0 with 0.5 %. Cleanlab's Q3 + 1.7 IQR on the combined distance alone flagged 0.4-1.2 % of
clean rows and missed 10 %; k-nearest-neighbour distances flagged 1-2 % of clean rows (natural rare
phrasings). With a description, rows whose similarity to it falls below the data's lower fence are
flagged too.

A coherent minority from a neighbouring domain (bank-card questions inside a shop's support set, telecom or insurance
rows) is no outlier to the centre: its rows sit near one another. Free-text rows are therefore also judged by what
they talk about (`foreign_rows`): the share of an answer's words that hardly any other answer uses (in under
RARE_SHARE of them: 'roaming', 'puk', 'windscreen' in a shop's data), added as a robust z-score to the distance to
the row's NEIGHBOURHOOD nearest answers (more than a minority's own size, so its rows cannot vouch for one another);
candidates above Q3 + DOMAIN_FENCE IQR of that score, joined by the rows far from the centre above. The contextual
judge then confirms by meaning (`_unlike_by_meaning`, on the question and the answer's beginning): a candidate is
flagged when it is further from its nearest rows of a random reference sample than those rows are from one another,
or when it belongs to a coherent minority: a quarter or more of its nearest rows by meaning are other candidates, each
reference row counted for the rows it stands for (a real intent's rows with rare words have their own kind among the
rest; a neighbouring domain's rows have only one another). Static vectors and rare words each misjudge natural rows (a
troubleshooting answer about an 'incognito' window, a delivery answer naming a far city), the judge rarely the same
ones. Words of the task description never count as foreign: a user who describes the task names its domain. Fitted on
the fit part of the shared data (bench/quality_split.py) with the fitting injector's rows of five neighbouring
domains, the coherent minority (issue 36, second round) on the withheld fifth of Bitext (bench/bitext_unseen.py) with
injector c's bank rows, whose static-vector scores and openings look like support (bench/quality_gate.md).

Documents of another kind (`foreign_documents`, extraction tasks: a bank statement, payslip or hotel booking among
receipts) carry the same fields as the rest and sit near them by static vectors (the same company and address words,
amounts, dates). What gives them away is the vocabulary the data's documents share: a document lacking most of the
words over half of them print ('total', 'cash', 'change', 'tax' on receipts) and sharing few of the words a twentieth of
them print is of another kind. Score: the Bernoulli log-likelihood of the core words' presence, as a robust z-score,
plus the same of the share of the document's own words that are common; flagged above Q3 + DOCUMENT_FENCE IQR. The
words of the row's own field values do not count (a bank's name is no receipt word), and a document with fewer words
than there are core words is too short to tell. Fitted on the receipts' fit part with neighbouring documents of two
injectors (fit and c): at a fence of 1.5 IQR 1 of 299 real receipts flagged (a French receipt among Malaysian ones)
and 56 of 60 documents (the 4 missed had 8 words or fewer); SROIE's never-seen test texts then showed 2.9 % of their
receipts flagged (parking and petrol-kiosk receipts, rarer kinds), so the fence is 2.0: bench/document_kinds.py
measures the rule alone on each part, bench/quality_gate.md the whole gate.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.quality.neighbors import lower_fence, nearest, upper_fence
from anchortune.quality.text import content_words

RARE_SHARE = 0.02  # a word in fewer than this share of the answers is rare in the data
NEIGHBOURHOOD = 50  # nearest answers a row's distance is measured to (a minority's rows must not vouch for each other)
DOMAIN_FENCE = 1.0  # Q3 + this many IQR of the combined score makes a candidate the judge confirms
LONE_FENCE = 3.0  # the same, without a judge
MAX_CANDIDATES = 800  # the judge's work is bounded on very large data
REFERENCE_ROWS = 500  # random rows the candidates are compared with by meaning
JUDGE_NEIGHBOURS = 10
MEANING_CHARS = 500  # of an answer, after its question; the judge reads JUDGE_TOKENS (96) of the two
COHERENT_SHARE = 0.25  # of a candidate's nearest rows by meaning that are other candidates (the reference's rows
# weighted by how many rows each stands for): a coherent minority
MEANING_FENCE = 1.75  # Q3 + this many IQR of the reference rows' own distances to their nearest rows
CORE_SHARE = 0.5  # a word in more than this share of the documents is a core word of the data's kind of document
COMMON_SHARE = 0.05  # in more than this share: a common word
DOCUMENT_FENCE = 2.0  # Q3 + this many IQR of the documents' score
MIN_DOCUMENTS = 50  # below this, which words most documents print is chance
MIN_ROWS = 200  # below this, one row's words are rare by chance (and 2 % of the rows is a handful)


def _to_centre(vectors: np.ndarray) -> np.ndarray:
    centre = vectors.mean(axis=0)
    return vectors @ (centre / max(float(np.linalg.norm(centre)), 1e-8))


def _robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / IQR; where most values are equal (an IQR of 0: most answers without a rare word) the standard
    deviation is the scale instead."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    scale = float(q3 - q1) or float(np.std(values))
    return (values - median) / max(scale, 1e-8)


def matches_description(combined: np.ndarray, description: np.ndarray, seed: int = 0) -> bool:
    """Whether the rows' median similarity to the description clears the lower fence (Q1 - 1.5 IQR) of
    the similarities between random pairs of rows: the description is as close as a typical row is."""
    order = np.random.default_rng(seed).permutation(len(combined))
    between_rows = np.einsum("ij,ij->i", combined, combined[order])
    return float(np.median(combined @ description)) >= lower_fence(between_rows)


def off_task(points: list[AnchorPoint], combined: np.ndarray, answers: np.ndarray,
             description: np.ndarray | None = None) -> tuple[list[Finding], np.ndarray]:
    """Findings and each row's relevance (cosine to the data's centre, or to the description); `answers` is the
    row's own side: its answer's vector, or for JSON tasks its document's."""
    if len(points) < 8:
        return [], np.ones(len(points))
    similarity = _to_centre(combined)
    distance = _robust_z(1 - similarity) + _robust_z(1 - _to_centre(answers))
    fence = upper_fence(distance, 3.0)
    reasons = {int(i): "far from the rest of the anchor points" for i in np.nonzero(distance > fence)[0]}
    if description is not None:
        to_task = combined @ description
        low = lower_fence(to_task, 1.7)
        for i in np.nonzero(to_task < low)[0]:
            reasons.setdefault(int(i), "unrelated to the task description")
        similarity = to_task
    findings = [Finding(points[i].line, "off_task", "warning", f"off task: {reasons[i]} "
                        f"(score {distance[i]:.1f}, fence {fence:.1f})") for i in sorted(reasons)]
    return findings, similarity


def foreign_rows(points: list[AnchorPoint], answers: np.ndarray, description: str | None = None, judge=None,
                 skip: frozenset[int] = frozenset(), outliers: list[Finding] = ()) -> list[Finding]:
    """Rows of a neighbouring domain (see the module's docstring). `answers`: the answers' centred unit vectors;
    `judge` (embeddings.Judge) confirms the candidates by meaning; without one, only rows past LONE_FENCE count.
    Rows whose line is in `skip` (unreadable, in another language, or reported as a copy) are neither candidates nor
    reference. `outliers` (off_task's findings: far from the data's centre by static vectors) join the candidates:
    with a judge only those it confirms are kept (a delivery answer naming a far city is far by its words, not by its
    meaning); without one, all of them."""
    if len(points) < MIN_ROWS:
        return list(outliers)
    return _foreign_by_words(points, answers, description, judge, skip, outliers)


def _foreign_by_words(points, answers, description, judge, skip, outliers=()) -> list[Finding]:
    n = len(points)
    docs = [content_words(p.answer) for p in points]
    counts = Counter(w for doc in docs for w in doc)
    known = content_words(description or "")
    rare = [sorted((w for w in doc if counts[w] < RARE_SHARE * n and w not in known), key=lambda w: counts[w])
            for doc in docs]
    share = np.array([len(r) / max(1, len(doc)) for r, doc in zip(rare, docs)])
    sims, _ = nearest(answers, min(NEIGHBOURHOOD, n - 1))
    score = _robust_z(share) + _robust_z(1 - sims.mean(axis=1))
    fence = upper_fence(score, DOMAIN_FENCE if judge is not None else LONE_FENCE)
    index = {p.line: i for i, p in enumerate(points)}
    far = {index[f.line]: f for f in outliers}
    candidates = [int(i) for i in np.argsort(-score)[:MAX_CANDIDATES]
                  if score[i] > fence and rare[int(i)] and points[int(i)].line not in skip and int(i) not in far]
    candidates += sorted(far)
    if not candidates:
        return []
    unlike = (_unlike_by_meaning(points, candidates, judge, skip) if judge is not None
              else {i: "" for i in candidates})
    return [replace(far[i], message=far[i].message + unlike[i]) if i in far else
            Finding(points[i].line, "off_task", "warning",
                    "off task: it speaks of things the rest of the anchor points do not ("
                    + ", ".join(f"'{w}'" for w in rare[i][:4]) + f": each in under {RARE_SHARE:.0%} of the answers)"
                    + unlike[i] + f" (score {score[i]:.1f}, fence {fence:.1f})")
            for i in sorted(unlike)]


def copies_of_off_task(copies: list[Finding], off: list[Finding]) -> list[Finding]:
    """Copies (exact or near duplicates, judged apart from the off-task rules so that copies cannot vouch for one
    another as a minority) of a row found off task are off task too: a neighbouring domain's rows often repeat
    themselves, and the user who keeps one copy keeps the topic."""
    flagged = {f.line for f in off}
    found: dict[int, Finding] = {}
    for f in copies:
        origin = next((r for r in f.related if r in flagged), None)
        if origin is not None and f.line not in flagged and f.line not in found:
            found[f.line] = Finding(f.line, "off_task", "warning", f"off task: a copy of line {origin}, which is "
                                    "off task", (origin,))
    return list(found.values())


def foreign_documents(points: list[AnchorPoint], skip: frozenset[int] = frozenset()) -> list[Finding]:
    """Documents of another kind than the data's (see the module's docstring): each prompt is a document, each answer
    its fields as JSON. Rows whose line is in `skip` (already reported off task, unreadable) are scored but not
    reported."""
    if len(points) < MIN_DOCUMENTS:
        return []
    docs = [content_words(p.prompt) - _field_words(p.answer) for p in points]
    counts = Counter(w for doc in docs for w in doc)
    n = len(points)
    core = sorted((w for w, c in counts.items() if c > CORE_SHARE * n), key=lambda w: (-counts[w], w))
    common = {w for w, c in counts.items() if c > COMMON_SHARE * n}
    if not core:
        return []
    share = np.array([counts[w] / n for w in core])
    present = np.array([[w in doc for w in core] for doc in docs], dtype=float)
    likelihood = (present * np.log(share) + (1 - present) * np.log1p(-np.minimum(share, 1 - 1e-6))).sum(axis=1)
    coverage = np.array([len(doc & common) / max(1, len(doc)) for doc in docs])
    score = _robust_z(-likelihood) + _robust_z(-coverage)
    fence = upper_fence(score, DOCUMENT_FENCE)
    found = []
    for i in np.nonzero(score > fence)[0]:
        doc = docs[int(i)]
        if len(doc) < len(core) or points[int(i)].line in skip:
            continue
        missing = [w for w in core if w not in doc]
        found.append(Finding(
            points[int(i)].line, "off_task", "warning",
            "off task: a document of another kind than the rest: it lacks words most of them print ("
            + ", ".join(f"'{w}'" for w in missing[:5]) + f": each in over {CORE_SHARE:.0%} of the documents) and "
            f"{len(doc & common)} of its {len(doc)} words are common here (score {score[i]:.1f}, fence {fence:.1f})"))
    return found


def _field_words(answer: str) -> set[str]:
    """The words of a JSON answer's string values (an issuer's name and address belong to no kind of document)."""
    try:
        value = json.loads(answer)
    except json.JSONDecodeError:
        return set()
    if not isinstance(value, dict):
        return set()
    return content_words(" ".join(v for v in value.values() if isinstance(v, str)))


def _unlike_by_meaning(points: list[AnchorPoint], candidates: list[int], judge,
                       skip: frozenset[int] = frozenset()) -> dict[int, str]:
    """The candidates the judge's contextual vectors of question and answer (`_meaning_text`) confirm, with the
    reason's words: a candidate further from its JUDGE_NEIGHBOURS nearest rows of a random reference sample than
    those rows are from each other (above Q3 + MEANING_FENCE IQR of the sample's own distances), or one of a coherent
    minority: at least COHERENT_SHARE of its JUDGE_NEIGHBOURS nearest rows (reference and candidates together) are
    other candidates. A real row with rare words has its own kind in the reference sample; a neighbouring domain's
    rows resemble one another more than anything the data holds, though each looks like support to the judge."""
    rng = np.random.default_rng(0)
    reference = sorted(set(rng.choice(len(points), min(len(points), REFERENCE_ROWS), replace=False).tolist())
                       - set(candidates) - {i for i, p in enumerate(points) if p.line in skip})
    vectors = judge.embed([_meaning_text(points[i]) for i in candidates + reference])
    own, others = vectors[:len(candidates)], vectors[len(candidates):]
    k = min(JUDGE_NEIGHBOURS, len(reference) - 1)
    among = others @ others.T
    np.fill_diagonal(among, -1.0)
    null = 1 - np.sort(among, axis=1)[:, -k:].mean(axis=1)
    distance = 1 - np.sort(own @ others.T, axis=1)[:, -k:].mean(axis=1)
    limit = upper_fence(null, MEANING_FENCE)
    to_all = own @ vectors.T
    to_all[np.arange(len(candidates)), np.arange(len(candidates))] = -1.0  # a row is not its own neighbour
    nearest_rows = np.argsort(-to_all, axis=1)[:, :k]
    # the reference stands for every row that is no candidate: one of its rows counts for `weight` of them
    weight = max(1.0, (len(points) - len(candidates) - len(skip)) / max(1, len(reference)))
    from_candidates = (nearest_rows < len(candidates)).sum(axis=1)
    share = from_candidates / (from_candidates + weight * (k - from_candidates))
    minority = [j for j in range(len(candidates)) if share[j] >= COHERENT_SHARE]
    found = {}
    for j, (i, d) in enumerate(zip(candidates, distance)):
        if d > limit:
            found[i] = (f", and its answer means something unlike the rest's ({d:.2f} from its nearest rows, typical "
                        f"up to {limit:.2f})")
        elif share[j] >= COHERENT_SHARE:
            found[i] = (f", and it is one of {len(minority)} rows that resemble one another more than the rest of the "
                        f"data ({share[j]:.0%} of its {k} nearest rows by meaning are among them): a topic of its "
                        f"own, confirm it belongs to the task")
    return found


def _meaning_text(point: AnchorPoint) -> str:
    """What a row is about, for the judge: its question and its answer's beginning (the judge reads JUDGE_TOKENS)."""
    return point.prompt + "\n" + point.answer[:MEANING_CHARS]
