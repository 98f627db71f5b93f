"""The balance guard's candidates beyond the checkpoints, once a LoRA training has ended: the chosen checkpoint's
adapter at smaller scales (free blends between base and tuned) and the average of the last checkpoints' adapters
(train/averaging.py), each measured as the checkpoints were, through the run's session (train/session.py). Which
candidate wins is evaluate/balance.py's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

SCALES = (0.25, 0.5, 0.75)


def more_candidates(session, result, baseline, valid_set: list[dict], checkpoints: Path, tick=lambda: None) -> list:
    """The scale sweep and the average of a finished LoRA run (none for full fine-tuning or without a choice);
    `tick()` is called after each measurement (the final evaluation's progress)."""
    if not hasattr(result.model, "merge_and_unload") or result.chosen is None or not valid_set:
        return []
    return _scale_sweep(session, result, baseline, valid_set, tick) + _average(session, result, baseline, valid_set,
                                                                               checkpoints, tick)


def _scale_sweep(session, result, baseline, valid_set: list[dict], tick) -> list:
    """The chosen LoRA checkpoint at smaller adapter scales."""
    candidates = []
    for scale in SCALES:
        with adapter_scale(result.model, scale):
            candidates.append(session.candidate(result.model, result.chosen.step, baseline, valid_set, scale=scale))
        tick()
    return candidates


def _average(session, result, baseline, valid_set: list[dict], checkpoints: Path, tick) -> list:
    """The average of the last checkpoints' adapters as a candidate; the model is handed back holding the checkpoint
    it held before."""
    from anchortune.train import averaging
    from anchortune.train.adapter import load_adapter

    steps = averaging.steps_to_average([c.step for c in result.candidates])
    if not steps or not all((checkpoints / f"checkpoint-{s}" / averaging.ADAPTER_FILE).is_file() for s in steps):
        return []
    averaging.load_average(result.model, checkpoints, steps)
    try:
        return [session.candidate(result.model, steps[-1], baseline, valid_set, averaged=steps)]
    finally:
        load_adapter(result.model, checkpoints / f"checkpoint-{result.chosen.step}")
        tick()


def adapter_scale(model, scale: float):
    """A context in which the LoRA adapter acts at `scale` (nothing for full models or scale 1)."""
    if scale == 1.0 or not hasattr(model, "merge_and_unload"):
        return contextlib.nullcontext()
    from peft.helpers import rescale_adapter_scale

    return rescale_adapter_scale(model, scale)
