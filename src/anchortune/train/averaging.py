"""Checkpoint averaging: the mean of a LoRA run's last checkpoints as one more candidate for the balance guard.

A small run's checkpoints wander over the last evaluations: the validation loss still falls by fractions of a
percent while the generated answers' metric moves up and down by several (on 240 held-out Bitext rows ROUGE-L
went 0.329, 0.342, 0.322, 0.324 over steps 48-69 while the loss fell 1.056 -> 1.035). Averaging the weights of
the last checkpoints, as machine translation has done since the Transformer (the last five or twenty
checkpoints), keeps the direction they share and drops the wander. Which checkpoints: the later half of the
run's evaluations (LAST_SHARE), at least two. LoRA adapters only (a few MB each; a full model's checkpoints are
whole models and the engine keeps only two of them). Whether the average is kept is the guard's decision
(evaluate/balance.py, AVERAGE_MARGIN); this module builds it and puts it in the model.
"""

from __future__ import annotations

from pathlib import Path

LAST_SHARE = 0.5  # the later half of the evaluations: 4 of a default run's 9 (engine.EVALS_PER_RUN)
ADAPTER_FILE = "adapter_model.safetensors"


def steps_to_average(steps: list[int]) -> list[int]:
    """The evaluated steps whose checkpoints are averaged: the later LAST_SHARE of them, at least two (none when
    the run evaluated fewer than three times: an average of all would take in the undertrained start)."""
    ordered = sorted(set(steps))
    if len(ordered) < 3:
        return []
    return ordered[-max(2, int(len(ordered) * LAST_SHARE)):]


def average_adapter(checkpoints: Path, steps: list[int]) -> dict:
    """The element-wise mean of the adapter weights saved at `steps` (checkpoint-<step> folders), in their
    dtype; a missing or mismatched checkpoint raises FileNotFoundError / KeyError."""
    import torch
    from safetensors.torch import load_file

    states = [load_file(str(checkpoints / f"checkpoint-{step}" / ADAPTER_FILE)) for step in steps]
    first = states[0]
    return {name: (sum(s[name].to(torch.float32) for s in states) / len(states)).to(first[name].dtype)
            for name in first}


def load_average(model, checkpoints: Path, steps: list[int]) -> None:
    """Put the average of the adapters at `steps` into the (PEFT) model."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, average_adapter(checkpoints, steps))
