"""Training order and packing: every example once per epoch, the steps of a plain random sampler, micro-batches
of balanced tokens packed into rows that keep each example's positions and bounds."""

from __future__ import annotations

import torch

from anchortune.engine.collate import PackCollator, PadCollator, StepSampler


def _micro_batches(sampler: StepSampler) -> list[list[int]]:
    return [list(g) for g in sampler]


def test_each_example_comes_once_and_a_step_holds_the_random_samplers_batch():
    lengths = [(i * 37) % 101 + 5 for i in range(103)]
    sampler = StepSampler(lengths, batch=8, micro_batches=4, seed=1)
    groups = _micro_batches(sampler)
    assert len(groups) == len(sampler) == 12 * 4 + 4  # 12 full steps, a last step of 7 in 4 micro-batches
    assert sorted(i for g in groups for i in g) == list(range(103))
    permutation = torch.randperm(103, generator=torch.Generator().manual_seed(1)).tolist()
    for step in range(12):
        drawn = [i for g in groups[4 * step:4 * step + 4] for i in g]
        assert sorted(drawn) == sorted(permutation[8 * step:8 * step + 8])


def test_micro_batches_of_a_step_hold_balanced_tokens():
    lengths = [(i * 37) % 101 + 5 for i in range(320)]
    groups = _micro_batches(StepSampler(lengths, batch=8, micro_batches=4, seed=1))
    spreads = []
    for step in range(0, len(groups), 4):
        tokens = [sum(lengths[i] for i in g) for g in groups[step:step + 4]]
        assert all(tokens)  # no empty micro-batch
        spreads.append(max(tokens) - min(tokens))
    assert sum(spreads) / len(spreads) < max(lengths)  # greedy balance: within one example's length


def test_a_last_step_smaller_than_the_micro_batches_trains_each_example_once():
    groups = _micro_batches(StepSampler([10] * 10, batch=8, micro_batches=4, seed=0))
    assert [len(g) for g in groups[4:]] == [1, 1]
    assert len(StepSampler([10] * 10, batch=8, micro_batches=4, seed=0)) == 6


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = list(range(1, 51))
    a, b = StepSampler(lengths, 8, 2, seed=3), StepSampler(lengths, 8, 2, seed=3)
    assert _micro_batches(a) == _micro_batches(b)
    b.set_epoch(1)
    assert _micro_batches(a) != _micro_batches(b)


def test_packed_rows_restart_positions_and_ignore_each_examples_first_label():
    row = PackCollator(pad_id=0, multiple=8)([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
                                              {"input_ids": [8, 9], "labels": [8, 9]}])
    assert row["input_ids"].tolist() == [[5, 6, 7, 8, 9, 0, 0, 0]]
    assert row["labels"].tolist() == [[-100, 6, 7, -100, 9, -100, -100, -100]]
    assert row["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]
    assert row["cu_seq_lens_q"].tolist() == [0, 3, 5, 8]
    assert row["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]


def test_batches_are_padded_to_a_few_reusable_widths_without_counting_the_padding():
    batch = PadCollator(pad_id=0, multiple=32)([{"input_ids": [1] * 33, "labels": [1] * 33},
                                                {"input_ids": [2] * 5, "labels": [-100] * 4 + [2]}])
    assert batch["input_ids"].shape == (2, 64)
    assert batch["attention_mask"].sum().item() == 38 and (batch["labels"] != -100).sum().item() == 34
    assert PadCollator(pad_id=0)([{"input_ids": [1] * 33, "labels": [1] * 33}])["input_ids"].shape == (1, 33)
    exact = PackCollator(pad_id=0, multiple=32)([{"input_ids": [1] * 20, "labels": [1] * 20},
                                                  {"input_ids": [1] * 12, "labels": [1] * 12}])
    assert exact["input_ids"].shape == (1, 32) and exact["cu_seq_lens_q"].tolist() == [0, 20, 32]
