"""NEFTune noise: each packed example gets the noise its own length calls for, and only while training."""

from __future__ import annotations

import json

import pytest
import torch

from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.train import neftune


def _noise(model, bounds, width, alpha=5.0, training=True):
    """What the hook adds to the embeddings of a row of `width` tokens with these example bounds."""
    torch.manual_seed(0)
    ids = torch.randint(0, 96, (1, width))
    embeddings = model.get_input_embeddings()
    clean = embeddings(ids)
    embeddings.train(training)
    with neftune.noise(model, alpha) as state:
        state.bounds = None if bounds is None else torch.tensor(bounds, dtype=torch.int32)
        noisy = embeddings(ids)
    assert torch.equal(embeddings(ids), clean)  # the hook is gone after the context
    return (noisy - clean)[0]


def test_each_packed_example_gets_the_noise_of_its_own_length(lora_model):
    dim = lora_model.get_input_embeddings().weight.shape[1]
    added = _noise(lora_model, [0, 8, 40], 40)
    for start, end in ((0, 8), (8, 40)):
        bound = 5.0 / (float(end - start) * dim) ** 0.5
        part = added[start:end].abs()
        assert part.max() <= bound * (1 + 1e-6)
        assert part.max() > 0.9 * bound  # uniform over [-bound, bound]: its largest draws come near the bound
        assert part.mean() == pytest.approx(bound / 2, rel=0.15)
    # transformers' hook would have scaled both by the row's 40 tokens: the first example's noise 2.2x too small
    assert added[:8].abs().max() > 2 * 5.0 / (40.0 * dim) ** 0.5


def test_without_bounds_the_row_width_sets_the_noise_and_evaluation_gets_none(lora_model):
    dim = lora_model.get_input_embeddings().weight.shape[1]
    added = _noise(lora_model, None, 24)
    assert added.abs().max() <= 5.0 / (24.0 * dim) ** 0.5 * (1 + 1e-6)
    assert added.abs().max() > 0
    assert torch.count_nonzero(_noise(lora_model, [0, 24], 24, training=False)) == 0


def test_a_run_with_neftune_trains_differently_but_still_learns(tmp_path, support_file, tiny_model_dir):
    def run(name, **extra):
        cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4,
                              max_length=256, precision="fp32", learning_rate=3e-3, max_steps=4, eval_every=2,
                              val_fraction=0.25, **extra)
        outcome = app_runs.train_run(cfg, tmp_path / name)
        rows = [json.loads(l) for l in (outcome.folder / "metrics.jsonl").read_text().splitlines()]
        return outcome, [r["train_loss"] for r in rows if "train_loss" in r]

    plain, plain_losses = run("plain")
    noisy, noisy_losses = run("noisy", neftune=5.0)
    assert noisy_losses != pytest.approx(plain_losses, rel=1e-6)  # the noise reached the training
    assert noisy.summary["losses"]["tuned_valid"] < noisy.summary["losses"]["base_valid"]
