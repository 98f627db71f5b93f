"""Batching tokenised examples: which examples make an optimizer step and its micro-batches, and how a
micro-batch becomes tensors (padded rows for evaluation, one packed row for training)."""

from __future__ import annotations

from anchortune.data.tokenize import IGNORE

PAD_MULTIPLE = 32  # widths used by training and evaluation (bench step loop: peak RSS 2.15 -> 1.87 GB, same speed)


def padded_width(length: int, multiple: int = PAD_MULTIPLE) -> int:
    """`length` rounded up to a multiple of `multiple`."""
    return -(-length // multiple) * multiple


def token_rows(lengths: list[int], budget: int) -> list[list[int]]:
    """Indices of examples grouped into rows of at most `budget` tokens, in order (an example longer than
    the budget gets a row of its own): the rows evaluation packs (PackCollator)."""
    rows: list[list[int]] = []
    used = budget
    for i, n in enumerate(lengths):
        if used + n > budget:
            rows.append([])
            used = 0
        rows[-1].append(i)
        used += n
    return rows


class PadCollator:
    """Right-pads input_ids (pad id), labels (-100) and builds the attention mask.

    With `multiple`, the width is rounded up to a multiple of it: CPU matrix products (oneDNN) build and
    cache a kernel for every new shape, so a few widths, reused, beat a new width at every batch (and
    bound the memory that cache holds: it grew by ~0.7 GB over 40 steps with free widths)."""

    def __init__(self, pad_id: int, multiple: int = 1):
        self.pad_id = pad_id
        self.multiple = max(1, multiple)

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        width = padded_width(width, self.multiple)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            ids[row, :n] = torch.tensor(example["input_ids"])
            labels[row, :n] = torch.tensor(example["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


class PackCollator:
    """Packs a micro-batch's examples into one row: no padding between them, only after the last, up to
    a multiple of `multiple` (see PadCollator for why).

    Each example keeps its own positions (position_ids restart at 0) and its own attention: the row's
    example boundaries go out as `cu_seq_lens_q` (cumulative lengths, the padding tail a segment of its
    own), which engine/packed_attention.py reads. The first label of every example is ignored, so no
    example is trained to predict the start of the next. attention_mask marks the real tokens (the
    Trainer counts them as tokens seen); the model is not given it."""

    def __init__(self, pad_id: int, multiple: int = 1):
        self.pad_id = pad_id
        self.multiple = max(1, multiple)

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        ids, labels, positions, bounds = [], [], [], [0]
        for example in examples:
            n = len(example["input_ids"])
            ids += example["input_ids"]
            labels += [IGNORE] + list(example["labels"][1:])
            positions += range(n)
            bounds.append(bounds[-1] + n)
        real = len(ids)
        width = padded_width(real, self.multiple)
        if width > real:
            ids += [self.pad_id] * (width - real)
            labels += [IGNORE] * (width - real)
            positions += range(width - real)
            bounds.append(width)
        return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                "position_ids": torch.tensor([positions]),
                "attention_mask": torch.tensor([[1] * real + [0] * (width - real)]),
                "cu_seq_lens_q": torch.tensor(bounds, dtype=torch.int32)}


class StepSampler:
    """Training order, as a batch sampler: which examples make each optimizer step, in which micro-batches.

    The steps are those of a plain random sampler: the examples in the order of
    `torch.randperm(n)` seeded with seed + epoch (the permutation the Trainer's own random sampler
    draws, so with the same seed a step trains on the same examples as TRL's or the Trainer's
    defaults would), cut into batches of `batch`. Within a step the examples are split into
    `micro_batches` groups of about equal token count (longest first, each to the lightest group):
    each group is one packed row (PackCollator), so no padding is wasted whichever lengths a step
    draws, and the gradient of the step is the same however it is split. A last, smaller batch keeps
    its examples once each (fewer micro-batches when it has fewer examples than micro-batches).
    Sorting the epoch by length instead (transformers' group_by_length, or micro-batches of similar
    length drawn across the epoch) trained to worse held-out losses (bench/train_throughput.py).

    Data parallel (`world` processes, this one `rank`): every process draws the same permutation, splits each
    step into `micro_batches` x `world` groups and takes groups rank, rank + world, ...: the processes share the
    step's examples, each the same number of micro-batches, and the gradients they average are the step's
    (train/distributed.py). A last batch with fewer examples than processes is left out (a process cannot
    train on nothing while the others wait for its gradient)."""

    def __init__(self, lengths: list[int], batch: int, micro_batches: int, seed: int, rank: int = 0, world: int = 1):
        self.lengths = list(lengths)
        self.batch = batch
        self.world = max(1, world)
        self.rank = rank
        self.micro_batches = max(1, min(micro_batches, batch // self.world))
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        full, tail = divmod(len(self.lengths), self.batch)
        return full * self.micro_batches + min(tail // self.world, self.micro_batches)

    def __iter__(self):
        import torch

        order = torch.randperm(len(self.lengths), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        order = order.tolist()
        for start in range(0, len(order), self.batch):
            yield from self.split(order[start:start + self.batch])[self.rank::self.world]

    def split(self, step: list[int]) -> list[list[int]]:
        """A step's examples in micro-batches of balanced token counts, each in the step's order (for `world`
        processes, a multiple of `world` of them; none where the step has fewer examples than processes)."""
        count = min(self.micro_batches, len(step) // self.world) * self.world if self.world > 1 else \
            min(self.micro_batches, len(step))
        if count == 0:
            return []
        groups: list[list[int]] = [[] for _ in range(count)]
        tokens = [0] * len(groups)
        for i in sorted(step, key=lambda i: -self.lengths[i]):
            lightest = tokens.index(min(tokens))
            groups[lightest].append(i)
            tokens[lightest] += self.lengths[i]
        rank = {i: k for k, i in enumerate(step)}
        return [sorted(g, key=rank.__getitem__) for g in groups]
