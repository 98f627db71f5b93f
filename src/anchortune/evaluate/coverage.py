"""The closed loop of an evaluation: which held-out items the tuned model still fails, which anchor points lie
nearest to each, what the anchor points do not cover, and what to write next.

Failing: a held-out item whose tuned answer scores under the task's bar (FAIL_UNDER: a wrong label, a JSON answer
with under half its fields right) or, for free text, one in the lowest FAIL_SHARE of the held-out items by
ROUGE-L (text has no absolute bar; the lowest fifth is where to look first).
Nearest: cosine similarity of the prompts in the quality gate's static embedding (quality/embeddings.py), the
NEAREST closest training anchor points with their lines.
Not covered: a failing item whose closest anchor point is under COVERED similar, or whose label has fewer than
FEW examples among the anchor points. Failing items not covered are grouped (each joins the first group whose
first item is at least GROUP similar), so the suggestion names a kind of request, with an example prompt, and
how many held-out items of that kind failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from anchortune.messages import say

FAIL_UNDER = {"label": 1.0, "json": 0.5}
FAIL_SHARE = 0.2
NEAREST = 3
COVERED = 0.6
FEW = 3
GROUP = 0.6


@dataclass
class Failure:
    """One failing held-out item and its neighbourhood among the anchor points."""

    line: int
    prompt: str
    label: str | None
    score: float
    nearest: list[dict]  # {"line", "similarity", "prompt"}
    covered: bool
    why: str

    def to_json(self) -> dict:
        return asdict(self)


def failing(kind: str, scores: list[float]) -> list[int]:
    """Indexes of the failing held-out items (see the module docstring), worst first."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    if kind in FAIL_UNDER:
        return [i for i in order if scores[i] < FAIL_UNDER[kind]]
    return order[:max(1, round(FAIL_SHARE * len(scores)))] if scores else []


def close_the_loop(kind: str, held, scores: list[float], train, embedder) -> dict:
    """The failing held-out items (AnchorPoints `held`, tuned scores `scores`) linked to the training anchor
    points `train`, the uncovered kinds of request, and the suggestions in words."""
    import numpy as np

    chosen = failing(kind, scores)
    if not chosen or not train:
        return {"failing": [], "uncovered": [], "suggestions": [], "rule": _rule(kind)}
    train_vectors = embedder.embed([p.prompt for p in train])
    fail_vectors = embedder.embed([held[i].prompt for i in chosen])
    similarity = fail_vectors @ train_vectors.T
    label_counts = Counter(p.label for p in train if p.label)
    failures = []
    for row, i in enumerate(chosen):
        top = np.argsort(-similarity[row])[:NEAREST]
        nearest = [{"line": train[j].line, "similarity": float(similarity[row, j]), "prompt": train[j].prompt[:160]}
                   for j in top]
        label = held[i].label
        few = label is not None and label_counts.get(label, 0) < FEW
        far = nearest[0]["similarity"] < COVERED
        closest = {"line": nearest[0]["line"], "score": f"{nearest[0]['similarity']:.2f}"}
        why = (say("cov_few", label=label, n=label_counts.get(label, 0)) if few else
               say("cov_far", **closest) if far else say("cov_close", **closest))
        failures.append(Failure(held[i].line, held[i].prompt, label, scores[i], nearest, not (few or far), why))
    groups = _groups([f for f in failures if not f.covered], fail_vectors, [f.line for f in failures])
    suggestions = []
    for group in groups:
        first = group[0]
        if first.label is not None and label_counts.get(first.label, 0) < FEW:
            suggestions.append(say("cov_write_intent", label=first.label, k=label_counts.get(first.label, 0),
                                   prompt=first.prompt[:120], n=len(group)))
        else:
            suggestions.append(say("cov_write_like", prompt=first.prompt[:120], n=len(group)))
    covered = [f for f in failures if f.covered]
    if covered:
        suggestions.append(say("cov_check_close", n=len(covered), line=covered[0].nearest[0]["line"],
                               other_line=covered[0].line))
    return {"failing": [f.to_json() for f in failures], "uncovered": [[f.line for f in g] for g in groups],
            "suggestions": suggestions, "rule": _rule(kind)}


def _groups(uncovered: list[Failure], vectors, lines: list[int]) -> list[list[Failure]]:
    """Uncovered failures grouped by prompt similarity (same label first), largest group first."""
    index = {line: k for k, line in enumerate(lines)}
    groups: list[list[Failure]] = []
    for failure in uncovered:
        for group in groups:
            head = group[0]
            same_label = failure.label is not None and failure.label == head.label
            if same_label or float(vectors[index[failure.line]] @ vectors[index[head.line]]) >= GROUP:
                group.append(failure)
                break
        else:
            groups.append([failure])
    return sorted(groups, key=len, reverse=True)


def _rule(kind: str) -> str:
    if kind == "label":
        return say("cov_rule_label")
    if kind == "json":
        return say("cov_rule_json")
    return say("cov_rule_text", share=f"{FAIL_SHARE:.0%}")
