"""Trivial baselines: what a held-out answer scores without any model, the bar a tuned model has to clear.

Three shortcuts, each answering every held-out prompt from the training anchor points alone:
  majority label        the most frequent label (label tasks): on a yes/no task with 52/48 classes, always "No"
                        is right 52 % of the time, whatever the model learned;
  most common answer    the training answer seen most often, copied for every prompt;
  nearest anchor point  the answer of the training anchor point whose prompt is most similar (an embedding of the
                        prompts, or shared words where no embedding is given), copied.
`strongest` scores every shortcut that applies with the task's own per-answer metric and keeps the best: the
verdict compares the tuned model with the hardest bar. Knows nothing about models or generation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from anchortune.data.records import AnchorPoint

Embed = Callable[[list[str]], "object"]  # texts -> unit vectors (rows), e.g. quality/embeddings.py's Embedder.embed


@dataclass
class Baseline:
    """One shortcut's answers to the held-out prompts and what they score."""

    name: str  # majority_label | most_common_answer | nearest_anchor
    detail: str  # the label or answer it repeats ('' for the nearest anchor point)
    answers: list[str]
    scores: list[float]

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    def to_json(self) -> dict:
        return {"name": self.name, "detail": self.detail, "score": self.mean}


def majority_label(train: list[AnchorPoint]) -> str | None:
    """The most frequent label of the training anchor points (ties: the first seen), or None without labels."""
    labels = [p.label for p in train if p.label]
    return Counter(labels).most_common(1)[0][0] if labels else None


def most_common_answer(train: list[AnchorPoint]) -> str:
    """The training answer seen most often (compared without case and outer space; ties: the first seen)."""
    if not train:
        return ""
    keyed = Counter(p.answer.strip().lower() for p in train)
    top = keyed.most_common(1)[0][0]
    return next(p.answer for p in train if p.answer.strip().lower() == top)


def nearest_answers(held: list[AnchorPoint], train: list[AnchorPoint], embed: Embed | None = None) -> list[str]:
    """For each held-out prompt, the answer of the training anchor point whose prompt is most alike."""
    if not held or not train:
        return ["" for _ in held]
    if embed is not None:
        import numpy as np

        similarity = np.asarray(embed([p.prompt for p in held])) @ np.asarray(embed([p.prompt for p in train])).T
        return [train[int(row.argmax())].answer for row in similarity]
    words = [set(_words(p.prompt)) for p in train]
    out = []
    for point in held:
        mine = set(_words(point.prompt))
        best = max(range(len(train)), key=lambda j: len(mine & words[j]) / max(1, len(mine | words[j])))
        out.append(train[best].answer)
    return out


def candidates(kind: str, held: list[AnchorPoint], train: list[AnchorPoint], embed: Embed | None = None) -> dict:
    """name -> (detail, answers) of every shortcut that applies to the task."""
    out = {}
    label = majority_label(train) if kind == "label" else None
    if label is not None:
        out["majority_label"] = (label, [label] * len(held))
    common = most_common_answer(train)
    if common:
        out["most_common_answer"] = (common, [common] * len(held))
    if train:
        out["nearest_anchor"] = ("", nearest_answers(held, train, embed))
    return out


def strongest(kind: str, held: list[AnchorPoint], train: list[AnchorPoint], score: Callable[[list[str]], list[float]],
              embed: Embed | None = None) -> Baseline | None:
    """The shortcut that scores best on the held-out anchor points by `score` (answers -> per-answer scores)."""
    best = None
    for name, (detail, answers) in candidates(kind, held, train, embed).items():
        found = Baseline(name, detail, answers, score(answers))
        if best is None or found.mean > best.mean:
            best = found
    return best


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())
