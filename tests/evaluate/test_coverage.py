"""The closed loop of an evaluation (evaluate/coverage.py): failing held-out items linked to their nearest anchor
points, uncovered requests grouped, and suggestions that name what to write."""

from __future__ import annotations

import numpy as np

from anchortune.data.records import AnchorPoint
from anchortune.evaluate import coverage

TOPICS = ("refund", "delivery", "password", "invoice")


class TopicEmbedder:
    """Unit vectors by the topic words a prompt contains (a stand-in for the static embedding)."""

    def embed(self, texts):
        rows = np.array([[1.0 if topic in t else 0.0 for topic in TOPICS] + [0.2] for t in texts])
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _point(line: int, prompt: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": "ok"}), line, label)


def test_failing_items_are_linked_to_near_anchor_points_and_uncovered_ones_grouped_into_suggestions():
    train = [_point(i + 1, f"{topic} question {i}", topic) for i, topic in enumerate(["refund"] * 4 + ["delivery"] * 4)]
    held = [_point(101, "refund question late", "refund"), _point(102, "password reset please", "password"),
            _point(103, "password forgotten", "password"), _point(104, "delivery where", "delivery"),
            _point(105, "invoice copy", "invoice")]
    scores = [0.0, 0.0, 0.0, 1.0, 0.0]  # a label task: 0 is a wrong label
    loop = coverage.close_the_loop("label", held, scores, train, TopicEmbedder())
    lines = [f["line"] for f in loop["failing"]]
    assert sorted(lines) == [101, 102, 103, 105]  # 104 was right
    refund = next(f for f in loop["failing"] if f["line"] == 101)
    assert refund["covered"] and refund["nearest"][0]["line"] in (1, 2, 3, 4) and refund["nearest"][0]["similarity"] > 0.9
    password = next(f for f in loop["failing"] if f["line"] == 102)
    assert not password["covered"] and "intent 'password' has 0 anchor points" in password["why"]
    assert loop["uncovered"][0] == [102, 103]  # the two password requests: one group, the largest first
    assert any("intent 'password'" in s and "2 failing held-out items" in s for s in loop["suggestions"])
    assert any("intent 'invoice'" in s for s in loop["suggestions"])
    assert any("check those anchor points' answers" in s for s in loop["suggestions"])


def test_free_text_fails_its_lowest_fifth_and_a_clean_run_suggests_nothing():
    assert coverage.failing("text", [0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.6, 0.4, 0.2, 0.95]) == [1, 8]
    assert coverage.failing("json", [0.4, 0.5, 1.0]) == [0]
    train = [_point(1, "refund question")]
    loop = coverage.close_the_loop("label", [_point(9, "refund again")], [1.0], train, TopicEmbedder())
    assert loop["failing"] == [] and loop["suggestions"] == []
