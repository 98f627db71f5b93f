"""Training order: every example once per epoch, batches of similar length, no length curriculum."""

from __future__ import annotations

from anchortune.train.collate import LengthWindowSampler


def _batches(sampler: LengthWindowSampler) -> list[list[int]]:
    order = list(sampler)
    return [order[i:i + sampler.batch] for i in range(0, len(order), sampler.batch)]


def test_each_example_comes_once_and_the_ragged_batch_last():
    lengths = [(i * 37) % 101 + 5 for i in range(103)]
    batches = _batches(LengthWindowSampler(lengths, batch=8, seed=1))
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert [len(b) for b in batches] == [8] * 12 + [7]


def test_batches_hold_similar_lengths_but_come_in_random_order():
    lengths = [(i * 37) % 101 + 5 for i in range(320)]
    batches = _batches(LengthWindowSampler(lengths, batch=8, seed=1))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    random_spread = sum(max(lengths[i:i + 8]) - min(lengths[i:i + 8]) for i in range(0, 320, 8)) / 40
    assert spread < random_spread / 2  # padding: far below batches of unsorted examples
    longest = [max(lengths[i] for i in b) for b in batches]
    first_half, second_half = sum(longest[:20]) / 20, sum(longest[20:]) / 20
    assert abs(first_half - second_half) < 15  # no long-to-short curriculum over the epoch


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = list(range(50))
    a, b = LengthWindowSampler(lengths, 4, seed=3), LengthWindowSampler(lengths, 4, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b) and sorted(a) == sorted(b)
