"""Batching tokenised examples: pad to the longest in the batch, never to a fixed length."""

from __future__ import annotations

from anchortune.data.tokenize import IGNORE


class PadCollator:
    """Right-pads input_ids (pad id), labels (-100) and builds the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            ids[row, :n] = torch.tensor(example["input_ids"])
            labels[row, :n] = torch.tensor(example["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


class LengthWindowSampler:
    """Training order: batches in random order, each holding examples of similar length.

    Shuffle all examples, sort each window of `window` batches by length, cut it into batches,
    then shuffle the batches across the epoch (a ragged last batch stays last). Padding stays
    small while the order keeps no length curriculum (transformers' LengthGroupedSampler sorts
    megabatches of 50 batches: on a few hundred examples that is the whole epoch, longest first).
    Micro-batches are consecutive slices of a batch, so their size changes memory, not the
    examples of a step. The order depends only on (seed, epoch): a resumed run replays it."""

    def __init__(self, lengths: list[int], batch: int, seed: int, window: int = 4):
        self.lengths = lengths
        self.batch = batch
        self.seed = seed
        self.window = window * batch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), self.window):
            window = sorted(order[start:start + self.window], key=lambda i: self.lengths[i])
            batches += [window[i:i + self.batch] for i in range(0, len(window), self.batch)]
        ragged = [b for b in batches if len(b) < self.batch]
        full = [b for b in batches if len(b) == self.batch]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()] + ragged
        return iter([i for batch in shuffled for i in batch])
