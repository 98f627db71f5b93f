"""Training order: every example once per epoch, padding-poor pairs, batches that mix lengths at random."""

from __future__ import annotations

from anchortune.train.collate import LengthWindowSampler


def _groups(order: list[int], size: int) -> list[list[int]]:
    return [order[i:i + size] for i in range(0, len(order), size)]


def test_each_example_comes_once_and_the_ragged_pair_last():
    lengths = [(i * 37) % 101 + 5 for i in range(103)]
    order = list(LengthWindowSampler(lengths, seed=1))
    assert sorted(order) == list(range(103))
    assert len(_groups(order, 2)[-1]) == 1


def test_pairs_hold_similar_lengths_while_batches_mix_them():
    lengths = [(i * 37) % 101 + 5 for i in range(320)]
    order = list(LengthWindowSampler(lengths, seed=1))

    def spread(groups):
        return sum(max(lengths[i] for i in g) - min(lengths[i] for i in g) for g in groups) / len(groups)

    unsorted = list(range(320))
    assert spread(_groups(order, 2)) < spread(_groups(unsorted, 2)) / 4  # micro-batches of 2 pad little
    assert spread(_groups(order, 8)) > spread(_groups(unsorted, 8)) / 2  # a step's batch is not length-sorted
    longest = [max(lengths[i] for i in g) for g in _groups(order, 8)]
    assert abs(sum(longest[:20]) / 20 - sum(longest[20:]) / 20) < 15  # no long-to-short curriculum


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = list(range(50))
    a, b = LengthWindowSampler(lengths, seed=3), LengthWindowSampler(lengths, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b) and sorted(a) == sorted(b)


def test_batches_are_padded_to_a_few_reusable_widths_without_counting_the_padding():
    from anchortune.train.collate import PadCollator

    batch = PadCollator(pad_id=0, multiple=32)([{"input_ids": [1] * 33, "labels": [1] * 33},
                                                {"input_ids": [2] * 5, "labels": [-100] * 4 + [2]}])
    assert batch["input_ids"].shape == (2, 64)
    assert batch["attention_mask"].sum().item() == 38 and (batch["labels"] != -100).sum().item() == 34
    assert PadCollator(pad_id=0)([{"input_ids": [1] * 33, "labels": [1] * 33}])["input_ids"].shape == (1, 33)
