"""The validation split is seeded and stratified by label."""

from __future__ import annotations

from collections import Counter

from anchortune.data.demo_support import support_demo
from anchortune.data.split import split


def test_split_is_stratified_by_intent_and_repeatable():
    points = support_demo(n_per_intent=10)
    train, valid = split(points, 0.2, seed=1)
    assert len(train) + len(valid) == len(points) and len(valid) == 24
    assert set(Counter(p.label for p in valid).values()) == {2}
    again_train, again_valid = split(points, 0.2, seed=1)
    assert [p.line for p in again_valid] == [p.line for p in valid]
    assert [p.line for p in split(points, 0.2, seed=2)[1]] != [p.line for p in valid]


def test_single_example_groups_stay_in_training():
    points = support_demo(n_per_intent=5)[:30]
    lonely = [p for p in points if sum(q.label == p.label for q in points) == 1]
    _, valid = split(points, 0.3, seed=0)
    assert not {id(p) for p in lonely} & {id(p) for p in valid}
    assert valid
