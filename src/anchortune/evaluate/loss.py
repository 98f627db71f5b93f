"""Answer loss of a model on tokenised examples: token-weighted cross-entropy on answer tokens only."""

from __future__ import annotations

import contextlib

from anchortune.train.collate import PadCollator


def autocast(precision: str, device: str = "cpu"):
    """bf16 autocast for 'bf16', nothing for 'fp32'."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def answer_loss(model, examples: list[dict], pad_id: int, batch_size: int = 8, precision: str = "fp32") -> float:
    """Mean negative log-likelihood per answer token over all examples (nan when there are none)."""
    import torch

    if not examples:
        return float("nan")
    collate = PadCollator(pad_id)
    ordered = sorted(examples, key=lambda e: len(e["input_ids"]))
    device = next(model.parameters()).device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision, device.type):
        for start in range(0, len(ordered), batch_size):
            batch = {k: v.to(device) for k, v in collate(ordered[start:start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = batch["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                                    ignore_index=-100, reduction="sum")
            total += nll.item()
            count += int((targets != -100).sum())
    model.train(was_training)
    return total / count if count else float("nan")
