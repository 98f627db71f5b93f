"""`anchortune eval`: base against tuned with the task metric, general retention and flips, on the tiny model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from anchortune.app import runs as app_runs
from anchortune.cli.main import app
from anchortune.config import RunConfig


def test_eval_compares_base_and_tuned_with_retention(tmp_path, support_file, tiny_model_dir):
    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), max_steps=4,
                          batch_size=4, precision="fp32", learning_rate=3e-3)
    run = app_runs.train_run(cfg, tmp_path / "run").folder
    general = tmp_path / "general.txt"
    general.write_text("The river flows to the sea. Mountains rise above the valley. " * 200)
    items = tmp_path / "choices.jsonl"
    items.write_text("".join(json.dumps({"question": f"Pick {c}", "choices": ["a", "b", "c", "d"], "answer": c}) + "\n"
                             for c in "ABCD"))
    result = CliRunner().invoke(app, ["eval", str(run), "--general-text", str(general), "--choices", str(items),
                                      "--limit", "6"])
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "eval.json").read_text())
    for name in ("base", "tuned"):
        assert {"rouge_l", "embedding_similarity", "answer_loss", "general_text_loss"} <= set(stored["models"][name])
    assert 0 < stored["examples"] <= 6 and stored["choices"]["items"] == 4
    assert set(stored["examples_side_by_side"]) == {"best", "worst", "typical"}
    assert "general_text_loss" in stored["retention"]
    assert (run / "eval.md").read_text().startswith("# Evaluation: support")


def test_tuned_model_is_scored_as_training_scored_it(tmp_path, support_file, tiny_model_dir):
    """Base against tuned differs by the adapter alone: the tuned side of a LoRA run is its adapter over the base
    (unmerged: a merged matrix rounded to bf16 loses part of the adapter's delta), and its bf16 loss on the
    validation split is the one training chose by."""
    from peft import PeftModel

    from anchortune.data.loading import load_anchor_points
    from anchortune.data.split import split
    from anchortune.models.loading import load_tuned

    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), max_steps=6,
                          batch_size=4, precision="bf16", learning_rate=3e-3)
    outcome = app_runs.train_run(cfg, tmp_path / "run")
    tuned = load_tuned(outcome.folder, tiny_model_dir)
    assert isinstance(tuned, PeftModel) and not any(getattr(m, "merged", False) for m in tuned.modules())
    valid = split(load_anchor_points(support_file), cfg.val_fraction, cfg.seed)[1]
    compared = app_runs.compare_on(outcome.folder, valid)
    assert compared["precision"] == "bf16"
    assert compared["base_loss"] == outcome.summary["losses"]["base_valid"]
    # training evaluates with its fused LoRA products (engine/fused_lora.py): the same numbers summed in another order
    assert abs(compared["tuned_loss"] / outcome.summary["losses"]["tuned_valid"] - 1) < 1e-5
    assert compared["tuned_loss"] != compared["base_loss"]


def test_full_fine_tune_is_scored_as_its_model(tmp_path, support_file, tiny_model_dir):
    from peft import PeftModel

    from anchortune.models.loading import load_tuned

    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), max_steps=2,
                          batch_size=4, precision="fp32", method="full")
    outcome = app_runs.train_run(cfg, tmp_path / "run")
    assert not (outcome.folder / "adapter").exists()
    assert not isinstance(load_tuned(outcome.folder, tiny_model_dir), PeftModel)
