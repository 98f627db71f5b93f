"""The seeded train/validation split, stratified by label or intent when the data names one."""

from __future__ import annotations

import random
from collections import defaultdict

from anchortune.data.records import AnchorPoint

MIN_EXAMPLES = 4  # for a run that splits its data: three to train on and one held out to measure the tuned model


def split(points: list[AnchorPoint], fraction: float, seed: int) -> tuple[list[AnchorPoint], list[AnchorPoint]]:
    """(train, validation): about `fraction` of each label group held out, at least one example overall.

    Groups with a single example stay in training. Same data and seed give the same split, which is
    what makes `--resume` continue the same run.
    """
    if len(points) < 2:
        return list(points), []
    rng = random.Random(seed)
    groups: dict[str | None, list[AnchorPoint]] = defaultdict(list)
    for point in points:
        groups[point.label].append(point)
    target = min(len(points) - 1, max(1, round(len(points) * fraction)))
    eligible = {k: g for k, g in groups.items() if len(g) > 1} or groups
    size = sum(len(g) for g in eligible.values())
    exact = {k: target * len(g) / size for k, g in eligible.items()}
    quota = {k: min(int(v), len(eligible[k]) - 1) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True):
        if sum(quota.values()) >= target:
            break
        if quota[k] < len(eligible[k]) - 1 or len(eligible) == 1:
            quota[k] += 1
    held: set[int] = set()
    for key in sorted(eligible, key=str):
        members = list(eligible[key])
        rng.shuffle(members)
        held.update(id(p) for p in members[: quota[key]])
    train = [p for p in points if id(p) not in held]
    valid = [p for p in points if id(p) in held]
    return train, valid
