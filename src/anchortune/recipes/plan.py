"""Data sufficiency: how much better would the model get with more anchor points, and which to write.

`plan_data` holds out a validation split (per label, as a run does), trains the model on nested subsets of the
rest (FRACTIONS of it, each containing the smaller ones, labels interleaved so every subset keeps their mix),
each with the run's own settings and no evaluation during training, and measures every held-out row's answer
loss after each. evaluate/sufficiency.py fits the learning curve, predicts the loss at 2x and 4x the data with an
interval, checks itself by predicting the full size from the smaller subsets alone, and per label says how many
more examples would bring that label to the whole set's loss. The CLI (`anchortune plan`) and the studio's
dataset page (app/plan.py) call it. One run session (train/session.py) resolves the model and scores and trains
every subset; the subsets' checkpoints go to a temporary folder.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from anchortune.config import RunConfig
from anchortune.data.loading import CsvColumns, load_anchor_points
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import DataError, Problem
from anchortune.train.events import Event, EventSink, ignore

FRACTIONS = (0.125, 0.25, 0.5, 1.0)
MIN_HELD_OUT = 12  # held-out rows at least (a run's 10 % split of a small set is too few to fit a curve on)
MIN_POINTS = 24


def plan_data(data: str | Path, task: str = "custom", model: str | None = None, fractions=FRACTIONS, seed: int = 42,
              epochs: float | None = None, columns: CsvColumns | None = None, on_event: EventSink = ignore) -> dict:
    """The learning-curve plan of a data file for a task and model (see the module docstring)."""
    from anchortune.data.split import split
    from anchortune.data.tokenize import encode
    from anchortune.evaluate import sufficiency
    from anchortune.train.session import RunSession

    started = time.perf_counter()
    points = load_anchor_points(data, columns or CsvColumns())
    if len(points) < MIN_POINTS:
        raise DataError([Problem(str(data), 0, None, f"{len(points)} anchor points; a learning curve needs at least "
                                 f"{MIN_POINTS} (subsets of a handful of examples say nothing about more data)")])
    preset = load_preset(task).resolved_for(points)
    cfg = RunConfig.build(data=str(data), task=task, model=model, seed=seed, epochs=epochs).resolve(preset)
    train, held = split(points, min(0.3, max(cfg.val_fraction, MIN_HELD_OUT / len(points))), seed)
    with RunSession(cfg) as session:
        tokenizer = session.tokenizer
        held_rows = [(p, encoded[0]) for p in held
                     for encoded in [encode([p], preset, tokenizer, cfg.max_length)[0]] if encoded]
        order = nested_order(train, seed)
        sizes = sorted({max(2, round(f * len(train))) for f in fractions})
        rows: list[list[float]] = []
        base_rows = session.row_losses(session.load_model(), [e for _, e in held_rows])
        for k, size in enumerate(sizes, start=1):
            on_event(Event("info", 0, {"message": f"plan: training on {size} of {len(train)} anchor points "
                                                  f"({k} of {len(sizes)})"}))
            subset, _ = encode(order[:size], preset, tokenizer, cfg.max_length)
            with tempfile.TemporaryDirectory(prefix="anchortune-plan-") as work:
                result = session.fine_tune(session.load_model(), subset, [], checkpoints=Path(work) / "checkpoints",
                                           hold_frozen=False)
                rows.append(session.row_losses(result.model, [e for _, e in held_rows]))
            on_event(Event("info", 0, {"message": f"plan: {size} anchor points -> held-out loss "
                                                  f"{sum(rows[-1]) / len(rows[-1]):.4f}"}))
    means = [sum(r) / len(r) for r in rows]
    curve = sufficiency.fit(sizes, means)
    predictions = []
    for factor in (2, 4):
        point, low, high = sufficiency.bootstrap(sizes, rows, factor * len(train), seed=seed)
        predictions.append({"examples": factor * len(train), "loss": point, "low": low, "high": high})
    backtest = None
    if len(sizes) >= 4:  # the curve's own check: the full size predicted from the smaller subsets alone
        point, low, high = sufficiency.bootstrap(sizes[:-1], [r for r in rows[:-1]], sizes[-1], seed=seed)
        backtest = {"from": sizes[:-1], "examples": sizes[-1], "predicted": point, "low": low, "high": high,
                    "measured": means[-1], "inside": low <= means[-1] <= high}
        backtest["words"] = reliability(backtest)
    label_sizes, label_rows = _per_label(order, sizes, held_rows, rows)
    advice = sufficiency.suggestions(label_sizes, label_rows, means[-1])
    return {"task": preset.name, "model": cfg.model, "data": Path(data).name, "examples": len(points),
            "train": len(train), "held_out": len(held_rows), "epochs": cfg.epochs, "metric": "held-out answer loss",
            "base_loss": sum(base_rows) / len(base_rows), "sizes": sizes, "losses": means,
            "curve": {"floor": curve.floor, "scale": curve.scale, "rate": curve.rate},
            "predictions": predictions, "backtest": backtest,
            "labels": {label: {"examples": label_sizes[label][-1], "loss": sum(label_rows[label][-1]) /
                               len(label_rows[label][-1])} for label in label_rows if label_rows[label][-1]},
            "labels_without_a_curve": sorted(label for label, r in label_rows.items()
                                             if len(r[-1]) < sufficiency.MIN_ROWS),
            "suggestions": [{"label": s.label, "examples": s.examples, "loss": s.loss, "more": s.more,
                             "words": s.words()} for s in advice],
            "wall_s": time.perf_counter() - started}


def reliability(check: dict) -> str:
    """What the self-check says about the predictions, in words."""
    if check["inside"]:
        return (f"the curve fitted to {', '.join(map(str, check['from']))} examples predicted the loss at "
                f"{check['examples']} within its interval: its predictions can be taken as they are")
    faster = check["measured"] < check["low"]
    return (f"the curve fitted to {', '.join(map(str, check['from']))} examples did not predict the loss at "
            f"{check['examples']} (predicted {check['predicted']:.3f}, measured {check['measured']:.3f}): the data is "
            + ("still in its small-data regime, where each doubling buys more than a power law says; take the "
               "predicted gains as a lower bound" if faster else
               "past the point where more of the same examples helps as the curve says; take the predicted gains as "
               "an upper bound"))


def nested_order(points: list[AnchorPoint], seed: int) -> list[AnchorPoint]:
    """A seeded order whose every prefix keeps the labels' mix: each label's points shuffled, then dealt out in
    proportion (the label furthest behind its share goes next)."""
    rng = random.Random(seed)
    groups: dict[str | None, list[AnchorPoint]] = defaultdict(list)
    for point in points:
        groups[point.label].append(point)
    for members in groups.values():
        rng.shuffle(members)
    total, dealt, order = len(points), Counter(), []
    keys = sorted(groups, key=str)
    for n in range(1, total + 1):
        key = max((k for k in keys if dealt[k] < len(groups[k])),
                  key=lambda k: (n * len(groups[k]) / total - dealt[k], -keys.index(k)))
        order.append(groups[key][dealt[key]])
        dealt[key] += 1
    return order


def _per_label(order, sizes, held_rows, rows) -> tuple[dict, dict]:
    """Each label's examples in every subset, and its held-out rows' losses after each."""
    label_sizes, label_rows = {}, {}
    labels = sorted({p.label for p, _ in held_rows if p.label})
    for label in labels:
        label_sizes[label] = [sum(1 for p in order[:size] if p.label == label) for size in sizes]
        idx = [i for i, (p, _) in enumerate(held_rows) if p.label == label]
        label_rows[label] = [[r[i] for i in idx] for r in rows]
    return label_sizes, label_rows
