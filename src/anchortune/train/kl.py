"""A KL term to the base model on general text, against forgetting (RunConfig.kl_general, LoRA runs only).

Each micro-batch adds weight x KL(base || tuned) of the next-token distributions over one general row, the rows
taken in turn: the base model's own answers to the replay prompts (evaluate/probe.py), never the shipped general
text or cloze items the guard measures retention with (evaluate/general.py), so the term cannot flatter the
measure. The base model's distribution comes from the same network with the adapter switched off, under
no_grad, so no second model is held; two forwards and a backward over one short row per micro-batch. Knows
nothing of the Trainer; the engine adds its value to the loss.
"""

from __future__ import annotations


class KLTerm:
    """weight x mean over positions of KL(base || tuned) on general rows, one row a call."""

    def __init__(self, windows: list[dict], weight: float):
        self.windows = windows
        self.weight = weight
        self.calls = 0

    def __bool__(self) -> bool:
        return bool(self.windows) and self.weight > 0

    def __call__(self, model):
        import torch

        window = self.windows[self.calls % len(self.windows)]
        self.calls += 1
        device = next(model.parameters()).device
        ids = torch.tensor([window["input_ids"]], device=device)
        with torch.no_grad(), model.disable_adapter():
            base = torch.log_softmax(model(input_ids=ids, use_cache=False).logits.float(), dim=-1)
        tuned = torch.log_softmax(model(input_ids=ids, use_cache=False).logits.float(), dim=-1)
        kl = torch.nn.functional.kl_div(tuned, base, log_target=True, reduction="sum") / ids.shape[1]
        return self.weight * kl
