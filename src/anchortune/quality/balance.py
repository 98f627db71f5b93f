"""One-sidedness and diversity: label or cluster shares, rare classes, reused answer templates, and the
effective number of distinct examples (Vendi score).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.quality.findings import Finding
from anchortune.quality.text import content_words, normalise


def vendi_score(vectors: np.ndarray) -> float:
    """exp(entropy of the eigenvalues of the similarity matrix / n): the effective number of distinct
    examples (Friedman & Dieng). Computed from the d x d covariance, whose non-zero eigenvalues equal
    those of the n x n kernel, so 10,000 rows cost a 256 x 256 eigendecomposition."""
    n = len(vectors)
    if n == 0:
        return 0.0
    eig = np.linalg.eigvalsh((vectors.T @ vectors) / n)
    eig = eig[eig > 1e-12]
    eig = eig / eig.sum()
    return float(math.exp(-(eig * np.log(eig)).sum()))


def groups_of(points: list[AnchorPoint], vectors: np.ndarray, seed: int = 0) -> tuple[list[str], str]:
    """Each example's group: its label or intent where the data has them, else a k-means cluster named by the words
    its prompts share (`cluster_names`)."""
    if sum(p.label is not None for p in points) >= 0.8 * len(points):
        return [p.label or "(none)" for p in points], "label"
    from sklearn.cluster import KMeans

    k = int(min(30, max(2, round(math.sqrt(len(points) / 2)))))
    if len(points) <= k:
        return ["cluster 1"] * len(points), "cluster"
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)
    names = cluster_names([p.prompt for p in points], [int(c) for c in labels])
    return [names[int(c)] for c in labels], "cluster"


NAME_WORDS = 2  # words in a cluster's name
NAME_SHARE = 0.3  # a name's word is in at least this share of its cluster's prompts


def cluster_names(prompts: list[str], clusters: list[int]) -> dict[int, str]:
    """A name for each cluster a user can read: the NAME_WORDS words whose share of the cluster's prompts most
    exceeds their share of all prompts, each in NAME_SHARE of the cluster's prompts or more ('refund / money'); a
    cluster without such words, or whose words name another cluster first, keeps its number ('cluster 3')."""
    docs = [content_words(p) for p in prompts]
    overall = Counter(w for d in docs for w in d)
    members: dict[int, list[set[str]]] = defaultdict(list)
    for doc, c in zip(docs, clusters):
        members[c].append(doc)
    names, taken = {}, set()
    for c in sorted(members, key=lambda c: -len(members[c])):  # the largest clusters choose first
        inside = Counter(w for d in members[c] for w in d)
        size = len(members[c])
        lift = {w: n / size - overall[w] / len(docs) for w, n in inside.items()
                if n >= max(2, NAME_SHARE * size)}
        best = sorted(lift, key=lambda w: (-lift[w], w))[:NAME_WORDS]
        name = " / ".join(best)
        names[c] = name if best and name not in taken else f"cluster {c + 1}"
        taken.add(names[c])
    return names


def shares(groups: list[str]) -> dict[str, float]:
    counts = Counter(groups)
    return {g: c / len(groups) for g, c in counts.most_common()}


def normalised_entropy(distribution: dict[str, float]) -> float:
    if len(distribution) < 2:
        return 0.0
    h = -sum(p * math.log(p) for p in distribution.values() if p > 0)
    return h / math.log(len(distribution))


def template_answers(points: list[AnchorPoint], fmt: str, groups: list[str]) -> list[Finding]:
    """One answer (digits ignored) reused for several different prompts across different intents, labels
    or clusters (free-text tasks). The same answer to rephrasings of one question is fine; the same
    answer to unrelated questions teaches the model to ignore the question. A tool call is an action, not a
    template: the same call with other values is how a tool is used (quality/tool_data.py judges calls)."""
    if fmt != "text" or len(points) < 5:
        return []
    by_answer: dict[str, list[int]] = defaultdict(list)
    for i, point in enumerate(points):
        key = re.sub(r"\d+", "0", normalise(point.answer))
        if key and not (point.final_turn or {}).get("tool_calls"):
            by_answer[key].append(i)
    minimum = max(3, math.ceil(0.01 * len(points)))
    findings = []
    for indices in by_answer.values():
        members = [points[i] for i in indices]
        prompts = {normalise(p.prompt) for p in members}
        spread = len({groups[i] for i in indices})
        if len(members) >= minimum and len(prompts) >= 3 and spread >= 2:
            lines = [p.line for p in members]
            shown = ", ".join(map(str, lines[:5])) + (" ..." if len(lines) > 5 else "")
            for point in members:
                findings.append(Finding(point.line, "template_answer", "warning",
                                        f"the same answer is given to {len(prompts)} different prompts in "
                                        f"{spread} groups (lines {shown})",
                                        tuple(l for l in lines if l != point.line)[:20]))
    return findings
