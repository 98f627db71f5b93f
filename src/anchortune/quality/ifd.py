"""Instruction-following difficulty (Superfiltering): IFD = PPL(answer | prompt) / PPL(answer).

An answer the base model finds no easier to predict with its prompt than without (IFD >= 1) is not
conditioned on that prompt. Costs two forward passes per example with the model, so the gate runs
it only when asked (`check --ifd`).
"""

from __future__ import annotations

import math

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.data.tokenize import encode
from anchortune.engine.loss import autocast


def ifd_scores(model, tokenizer, preset: Preset, points: list[AnchorPoint], precision: str = "fp32",
               max_length: int = 512, batch_size: int = 8) -> list[float]:
    """IFD per example, in input order (nan where an answer has no token within max_length)."""
    indexed = [AnchorPoint(p.messages, i) for i, p in enumerate(points)]  # lines may repeat; positions do not
    bare = [AnchorPoint(({"role": "user", "content": ""}, {"role": "assistant", "content": p.answer}), i)
            for i, p in enumerate(points)]
    with_prompt = _losses(model, tokenizer, preset, indexed, precision, max_length, batch_size)
    without = _losses(model, tokenizer, preset, bare, precision, max_length, batch_size)
    return [math.exp(a - b) if not (math.isnan(a) or math.isnan(b)) else float("nan")
            for a, b in zip(with_prompt, without)]


def _losses(model, tokenizer, preset, points, precision, max_length, batch_size) -> list[float]:
    import torch

    from anchortune.engine.collate import PadCollator

    examples, _ = encode(points, preset, tokenizer, max_length)
    by_line = {}
    collate = PadCollator(tokenizer.pad_token_id)
    model.eval()
    with torch.inference_mode(), autocast(precision):
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = collate(chunk)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            targets = batch["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=-100,
                                                    reduction="none")
            mask = targets != -100
            per_row = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
            for example, value in zip(chunk, per_row.tolist()):
                by_line[example["line"]] = value
    return [by_line.get(p.line, float("nan")) for p in points]
