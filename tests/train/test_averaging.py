"""Checkpoint averaging: which checkpoints, the mean of their adapters, and a run that keeps the average hands
back exactly that average (adapter, merged model, summary, card)."""

from __future__ import annotations

import pytest

from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.evaluate import balance
from anchortune.train import averaging


def test_the_later_half_of_the_evaluations_is_averaged_and_short_runs_are_not():
    assert averaging.steps_to_average([8, 16, 24, 32, 40, 48, 56, 64, 69]) == [48, 56, 64, 69]
    assert averaging.steps_to_average([3, 6, 9, 12]) == [9, 12]
    assert averaging.steps_to_average([6, 3, 9]) == [6, 9]  # sorted, at least two
    assert averaging.steps_to_average([5, 10]) == []  # an average of all would take in the start


def test_the_average_is_the_element_wise_mean_in_the_adapter_dtype(tmp_path):
    import torch
    from safetensors.torch import save_file

    for step, value in ((1, 1.0), (2, 2.0), (3, 6.0)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        save_file({"a": torch.full((2, 3), value, dtype=torch.bfloat16), "b": torch.tensor([value, -value])},
                  str(tmp_path / f"checkpoint-{step}" / averaging.ADAPTER_FILE))
    mean = averaging.average_adapter(tmp_path, [1, 2, 3])
    assert mean["a"].dtype == torch.bfloat16 and torch.equal(mean["a"], torch.full((2, 3), 3.0, dtype=torch.bfloat16))
    assert torch.allclose(mean["b"], torch.tensor([3.0, -3.0]))
    with pytest.raises(FileNotFoundError):
        averaging.average_adapter(tmp_path, [1, 4])


def test_the_average_goes_first_only_within_the_margin_and_keeping_retention():
    base = balance.Reference(2.0, text_loss=3.0, cloze_accuracy=0.9)

    def pick(average_loss, average_text=3.0):
        single = balance.Candidate(69, 1.0, None, text_loss=3.0, cloze_accuracy=0.9)
        earlier = balance.Candidate(56, 1.004, None, text_loss=3.0, cloze_accuracy=0.9)
        average = balance.Candidate(69, average_loss, None, text_loss=average_text, cloze_accuracy=0.9,
                                    averaged=[48, 56, 64, 69])
        return balance.choose(balance.score([single, earlier, average], base))[0]

    inside = pick(1.0 * (1 + balance.AVERAGE_MARGIN) - 1e-6)
    assert inside.averaged == [48, 56, 64, 69]
    assert pick(1.0 * (1 + balance.AVERAGE_MARGIN) + 1e-3).averaged is None  # past the margin: the best loss
    assert pick(1.0, average_text=3.0 * (1 + 1.5 * balance.TEXT_BOUND)).averaged is None  # it forgot more
    assert pick(0.98).averaged is not None  # the lowest loss anyway
    assert balance.checkpoint_words(69, [48, 56, 64, 69]) == "the average of steps 48, 56, 64 and 69"
    assert balance.checkpoint_words(12) == "step 12"


def _run(tmp_path, support_file, tiny_model_dir):
    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4,
                          max_length=256, precision="fp32", learning_rate=3e-3, max_steps=12, eval_every=3,
                          val_fraction=0.25)
    return app_runs.train_run(cfg, tmp_path / "run")


def test_a_run_that_keeps_the_average_hands_back_that_average(tmp_path, support_file, tiny_model_dir, monkeypatch):
    import torch
    from safetensors.torch import load_file

    monkeypatch.setattr(balance, "AVERAGE_MARGIN", 10.0)  # keep the average whatever its loss (retention holds)
    outcome = _run(tmp_path, support_file, tiny_model_dir)
    summary, run = outcome.summary, outcome.folder
    chosen = summary["balance"]["chosen"]
    assert chosen["averaged"] == [9, 12] and summary["training"]["averaged_steps"] == [9, 12]
    singles = {c["step"]: c["valid_loss"] for c in summary["balance"]["candidates"] if not c["averaged"]
               and c["scale"] == 1.0}
    assert chosen["valid_loss"] not in (singles[9], singles[12])  # measured on the averaged weights
    kept = load_file(str(run / "adapter" / averaging.ADAPTER_FILE))
    mean = averaging.average_adapter(run / "checkpoints", [9, 12])
    assert kept.keys() == mean.keys() and all(torch.allclose(kept[k], mean[k]) for k in kept)
    assert summary["losses"]["tuned_valid"] == pytest.approx(chosen["valid_loss"])
    assert "the average of steps 9 and 12" in (run / "README.md").read_text()
    assert "mean of 9-12" in (run / "report.md").read_text()


def test_a_run_that_keeps_one_checkpoint_hands_back_that_checkpoint(tmp_path, support_file, tiny_model_dir,
                                                                   monkeypatch):
    import torch
    from safetensors.torch import load_file

    monkeypatch.setattr(balance, "AVERAGE_MARGIN", -1.0)  # never the average
    outcome = _run(tmp_path, support_file, tiny_model_dir)
    summary, run = outcome.summary, outcome.folder
    assert any(c["averaged"] == [9, 12] for c in summary["balance"]["candidates"])  # measured, not kept
    step = summary["training"]["best_step"]
    assert summary["training"]["averaged_steps"] is None
    kept = load_file(str(run / "adapter" / averaging.ADAPTER_FILE))
    saved = load_file(str(run / "checkpoints" / f"checkpoint-{step}" / averaging.ADAPTER_FILE))
    assert all(torch.allclose(kept[k], saved[k]) for k in kept)
