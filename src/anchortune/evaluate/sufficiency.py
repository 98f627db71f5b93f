"""How much data is enough: learning curves of the held-out answer loss over the number of anchor points.

The curve is the power law of data scaling, loss(n) = floor + scale * n^(-rate) (Hestness et al. 2017; Kaplan et
al. 2020 for pretraining; the same shape holds for fine-tuning on a fixed task), fitted to the mean held-out loss
after training on nested subsets of the anchor points. Its interval is a paired bootstrap of the held-out rows:
each resample takes the same rows at every subset size, refits, and predicts, so the interval holds the noise of
which rows were held out and of the fit, not the noise of training itself (one seed per size).

Per label (intent): the same fit to that label's held-out rows against the number of its own examples in each
subset. A label whose loss is predicted to stay above the whole set's at full size gets a suggestion: the
examples of that label that would bring it there, where the curve says a feasible number does (at most
MAX_FACTOR x what it has); otherwise more examples alone are not predicted to close the gap, and that is said.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

RESAMPLES = 300
MAX_FACTOR = 8  # suggest at most this many times a label's current examples
MIN_ROWS = 2  # held-out rows a label needs for its own curve


@dataclass
class Curve:
    """loss(n) = floor + scale * n^(-rate), fitted to (size, loss) points."""

    floor: float
    scale: float
    rate: float

    def at(self, n: float) -> float:
        return self.floor + self.scale * max(n, 1e-9) ** (-self.rate)

    def examples_for(self, loss: float) -> float:
        """The n at which the curve reaches `loss` (inf where it never does: at or under its floor)."""
        if loss <= self.floor or self.scale <= 0 or self.rate <= 0:
            return math.inf
        return ((loss - self.floor) / self.scale) ** (-1 / self.rate)


def fit(sizes: list[float], losses: list[float]) -> Curve:
    """The power law through (size, loss) points by least squares, the floor between 0 and the lowest loss and the
    rate in (0, 2]: for each rate on a grid (refined around the best), floor and scale are a linear least-squares
    fit, clipped to their bounds; two points give a pure power law (floor 0) through both."""
    import numpy as np

    x, y = np.asarray(sizes, dtype=float), np.asarray(losses, dtype=float)
    if len(x) < 3:
        if len(x) == 2 and y[0] > 0 and y[1] > 0 and x[1] != x[0]:
            rate = float(min(2.0, max(1e-3, np.log(y[0] / y[1]) / np.log(x[1] / x[0]))))
        else:
            rate = 0.5
        return Curve(0.0, float(y[0] * x[0] ** rate), rate)
    low = float(y.min())
    best = (np.inf, 0.0, 0.0, 0.5)
    for grid in (np.linspace(0.02, 2.0, 100), None):
        if grid is None:  # refine around the best rate
            grid = np.linspace(max(1e-3, best[3] - 0.02), min(2.0, best[3] + 0.02), 41)
        for rate in grid:
            z = x ** (-rate)
            floor, scale = _linear(z, y, low)
            error = float(((floor + scale * z - y) ** 2).sum())
            if error < best[0]:
                best = (error, floor, scale, float(rate))
    return Curve(best[1], best[2], best[3])


def _linear(z, y, low: float) -> tuple[float, float]:
    """Least-squares floor + scale * z through y, with 0 <= floor <= low and scale >= 0."""
    import numpy as np

    zc, yc = z - z.mean(), y - y.mean()
    denominator = float((zc ** 2).sum())
    scale = float((zc * yc).sum() / denominator) if denominator > 0 else 0.0
    scale = max(0.0, scale)
    floor = float(y.mean() - scale * z.mean())
    if floor < 0 or floor > low:  # on the bound: the floor fixed there, the scale refitted
        floor = min(max(floor, 0.0), low)
        scale = max(0.0, float(((y - floor) * z).sum() / max(float((z ** 2).sum()), 1e-30)))
    return floor, scale


def bootstrap(sizes: list[float], rows: list[list[float]], target: float, seed: int = 0,
              resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """(prediction, 2.5 %, 97.5 %) of the mean held-out loss at `target` examples: rows[k][i] is held-out row i's
    loss after training on sizes[k] examples; resamples take the same rows at every size."""
    count = len(rows[0])
    mean = lambda idx, k: sum(rows[k][i] for i in idx) / len(idx)  # noqa: E731
    point = fit(sizes, [mean(range(count), k) for k in range(len(sizes))]).at(target)
    rng = random.Random(seed)
    draws = []
    for _ in range(resamples):
        idx = [rng.randrange(count) for _ in range(count)]
        draws.append(fit(sizes, [mean(idx, k) for k in range(len(sizes))]).at(target))
    draws.sort()
    return point, draws[int(0.025 * resamples)], draws[int(0.975 * resamples) - 1]


@dataclass
class Suggestion:
    """What one label needs: its loss now and at full size, and how many more examples the curve asks for."""

    label: str
    examples: int
    loss: float
    more: int | None  # None: more examples alone are not predicted to bring it to the target
    target: float

    def words(self) -> str:
        if self.more is None:
            return (f"{self.label}: held-out loss {self.loss:.3f} against {self.target:.3f} overall, and its curve "
                    f"flattens above that: check these examples (clarity, consistency) rather than only adding more")
        return (f"write ~{self.more} more examples for {self.label} (it has {self.examples}; held-out loss "
                f"{self.loss:.3f} against {self.target:.3f} overall)")


def suggestions(label_sizes: dict[str, list[int]], label_rows: dict[str, list[list[float]]],
                target: float) -> list[Suggestion]:
    """Per label (its examples at each subset size, its held-out rows' losses at each size): the labels whose
    loss at full size stays above `target` (the whole set's), worst first."""
    out = []
    for label, sizes in label_sizes.items():
        rows = label_rows.get(label) or []
        if len(rows) < 1 or len(rows[0]) < MIN_ROWS or sizes[-1] < 1:
            continue
        means = [sum(r) / len(r) for r in rows]
        now = means[-1]
        if now <= target:
            continue
        usable = [(s, m) for s, m in zip(sizes, means) if s > 0]
        if len(usable) < 2:
            continue
        curve = fit([s for s, _ in usable], [m for _, m in usable])
        needed = curve.examples_for(target)
        more = math.ceil(needed - sizes[-1]) if needed <= MAX_FACTOR * sizes[-1] else None
        out.append(Suggestion(label, sizes[-1], now, max(1, more) if more is not None else None, target))
    return sorted(out, key=lambda s: -(s.loss - s.target))
