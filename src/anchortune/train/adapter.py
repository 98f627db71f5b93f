"""The LoRA adapter of a run: put on every linear layer of the model's blocks, its first weights drawn from the
run's own seeded generator (never torch's process-wide one, nor torch.nn.init, which transformers silences while
another thread loads a model: libraries.py), and a saved checkpoint's adapter weights put back. Every trainer of a
run (train/engine.py, preference.py, reinforce.py) starts and restores its adapter here."""

from __future__ import annotations

import math
from pathlib import Path

from anchortune import libraries
from anchortune.config import RunConfig


def wrap_lora(model, cfg: RunConfig):
    """The model with a LoRA adapter on every linear layer of its transformer blocks, its A matrices drawn as PEFT
    draws them (Kaiming-uniform, a = sqrt(5)) from a generator seeded with the run's seed, its B matrices zero."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    with libraries.BUILDING:
        return seed_lora(get_peft_model(model, lora), cfg.seed)


def seed_lora(model, seed: int):
    """The LoRA adapter's first weights drawn again from a generator of the run's own (A: Kaiming-uniform, a =
    sqrt(5), as PEFT draws them; B: zero), not from torch's process-wide one (a wrapper that PEFT or TRL made). Drawn
    as torch.nn.init.kaiming_uniform_ draws, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), without it: transformers makes
    torch.nn.init's functions no-ops while another thread loads a model (libraries.py)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".lora_A." in name:
                bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + 5)) / math.sqrt(param.shape[1])  # as torch computes it
                param.uniform_(-bound, bound, generator=generator)
            elif ".lora_B." in name:
                param.zero_()
    return model


def load_adapter(model, checkpoint: Path) -> None:
    """Put the LoRA weights of a saved checkpoint into the (PEFT) model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
