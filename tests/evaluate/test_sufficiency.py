"""Learning curves (evaluate/sufficiency.py): the power law is recovered from its points, its interval covers the
truth, and a label that lags gets the number of examples its own curve asks for."""

from __future__ import annotations

import random

import pytest

from anchortune.recipes.plan import nested_order
from anchortune.data.records import AnchorPoint
from anchortune.evaluate import sufficiency


def _law(n: float) -> float:
    return 0.6 + 3.0 * n ** -0.5


def test_a_power_law_is_recovered_and_extrapolated_from_its_first_points():
    sizes = [25, 50, 100, 200]
    curve = sufficiency.fit(sizes, [_law(n) for n in sizes])
    assert curve.at(800) == pytest.approx(_law(800), rel=0.01)
    assert curve.examples_for(_law(400)) == pytest.approx(400, rel=0.05)
    assert sufficiency.fit(sizes, [_law(n) for n in sizes]).examples_for(0.5) == float("inf")  # under its floor


def test_the_bootstrap_interval_covers_the_true_loss_of_noisy_rows():
    rng = random.Random(0)
    sizes = [25, 50, 100, 200]
    offsets = [rng.gauss(0, 0.4) for _ in range(40)]  # each held-out row harder or easier, the same at every size
    rows = [[_law(n) + o + rng.gauss(0, 0.02) for o in offsets] for n in sizes]
    truth = _law(400) + sum(offsets) / len(offsets)
    point, low, high = sufficiency.bootstrap(sizes, rows, 400, resamples=200)
    assert low <= truth <= high and low < point < high
    assert high - low < 0.5


def test_a_lagging_label_is_told_how_many_examples_its_curve_needs():
    sizes = {"refund": [5, 10, 20, 40], "greeting": [5, 10, 20, 40]}
    rows = {"refund": [[1.0 + 4.0 * n ** -0.5] * 3 for n in sizes["refund"]],  # slow: 1.63 at 40
            "greeting": [[0.2 + 1.0 * n ** -0.5] * 3 for n in sizes["greeting"]]}  # already low
    target = 1.5
    advice = sufficiency.suggestions(sizes, rows, target)
    assert [s.label for s in advice] == ["refund"]
    needed = ((target - 1.0) / 4.0) ** -2  # where the refund curve reaches the target: 64 examples
    assert advice[0].more == pytest.approx(needed - 40, abs=3)
    assert "write ~" in advice[0].words() and "refund" in advice[0].words()
    flat = {"stuck": [[2.0 + 0.01 * n ** -0.5] * 3 for n in sizes["refund"]]}  # a floor above the target
    assert sufficiency.suggestions({"stuck": sizes["refund"]}, flat, target)[0].more is None


def test_every_prefix_of_the_nested_order_keeps_the_labels_mix():
    points = [AnchorPoint(({"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}), i,
                          "big" if i % 4 else "small") for i in range(40)]
    order = nested_order(points, seed=1)
    assert sorted(p.line for p in order) == list(range(40))
    for size in (5, 10, 20):
        small = sum(p.label == "small" for p in order[:size])
        assert abs(small - size / 4) <= 1
    assert order == nested_order(points, seed=1) and order != nested_order(points, seed=2)
