"""The balance guard on the tiny model: overfitting and underfitting are diagnosed, and checkpoints
are chosen by balance; the rules themselves on hand-made curves."""

from __future__ import annotations

import pytest

from anchortune import service
from anchortune.config import RunConfig
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points
from anchortune.evaluate import balance


def tiny_run(tmp_path, model, name, points, **options):
    data = save_anchor_points(points, tmp_path / f"{name}.jsonl")
    values = dict(data=str(data), task="support", model=str(model), batch_size=4, max_length=192, precision="fp32",
                  patience=0, val_fraction=0.3)
    values.update(options)
    return service.train_run(RunConfig.build(**values), tmp_path / name, force=True)


def test_a_deliberately_overfit_run_is_diagnosed_and_an_earlier_checkpoint_kept(tmp_path, tiny_model_dir):
    # 10 rows, 200 full fine-tuning steps at a high rate: the tiny random model memorises its 7 training
    # rows (LoRA on a random 32-wide model learns too little to overfit, so full weights are tuned here)
    few = support_demo(n_per_intent=2)[:10]
    outcome = tiny_run(tmp_path, tiny_model_dir, "overfit", few, method="full", learning_rate=2e-2, max_steps=200,
                       eval_every=20)
    diagnosis = outcome.summary["balance"]["diagnosis"]
    assert diagnosis["verdict"] == "overfitting", diagnosis
    assert outcome.summary["training"]["best_step"] < 200 and "was kept" in diagnosis["reason"]
    assert "report.html" in (outcome.folder / "README.md").read_text()
    html = (outcome.folder / "report.html").read_text()
    assert html.count("<svg") >= 2 and "<script" not in html  # no drift plot: the tiny model has no probe answers


def test_a_deliberately_short_run_is_diagnosed_as_underfitting(tmp_path, tiny_model_dir):
    outcome = tiny_run(tmp_path, tiny_model_dir, "short", support_demo(n_per_intent=3), learning_rate=1e-5,
                       max_steps=2, eval_every=1)
    assert outcome.summary["balance"]["diagnosis"]["verdict"] == "underfitting"


def test_balance_prefers_retention_over_a_slightly_better_validation_loss():
    candidates = balance.score([balance.Candidate(10, 1.00, 2.30), balance.Candidate(20, 0.95, 2.60),
                                balance.Candidate(20, 1.10, 2.05, scale=0.5)], base_valid=2.0, base_probe=2.0)
    chosen, runners = balance.choose(candidates)
    assert (chosen.step, chosen.scale) == (20, 0.5) or chosen.step == 10
    assert chosen.drift < candidates[1].drift and len(runners) == 2
    assert candidates[1].retention == 0.0  # 30 % drift is past the 10 % zero point


def test_drift_within_the_probes_noise_costs_no_retention():
    quiet, tuned, drifted = balance.score([balance.Candidate(24, 1.32, 1.0), balance.Candidate(38, 1.29, 1.006),
                                           balance.Candidate(40, 1.29, 1.055)], base_valid=1.8, base_probe=1.0)
    assert quiet.retention == tuned.retention == 1.0
    assert drifted.retention == pytest.approx(0.5)  # halfway between the 1 % noise and the 10 % zero point
    assert balance.choose([quiet, tuned])[0] is tuned  # 0.6 % drift does not outweigh a better task loss


@pytest.mark.parametrize("valid, verdict", [
    ([2.0, 1.5, 1.2, 1.1, 1.09], "well tuned"),
    ([2.0, 1.2, 1.3, 1.5, 1.7], "overfitting"),
    ([2.15, 2.12, 2.1, 2.09, 2.08], "underfitting"),
])
def test_diagnosis_rules_on_hand_made_curves(valid, verdict):
    evals = [{"step": 10 * (i + 1), "valid_loss": v} for i, v in enumerate(valid)]
    trains = [{"step": 10 * (i + 1), "train_loss": 2.0 - 0.2 * i} for i in range(len(valid))]
    chosen = balance.Candidate(min(evals, key=lambda r: r["valid_loss"])["step"], min(valid), 1.0)
    balance.score([chosen], base_valid=2.2, base_probe=1.0)
    assert balance.diagnose(trains, evals, 2.2, chosen).verdict == verdict


def test_forgetting_is_diagnosed_from_drift():
    chosen = balance.score([balance.Candidate(30, 1.0, 1.08)], base_valid=2.0, base_probe=1.0)[0]
    evals = [{"step": 10, "valid_loss": 1.5}, {"step": 20, "valid_loss": 1.2}, {"step": 30, "valid_loss": 1.0}]
    trains = [{"step": s, "train_loss": 1.0} for s in (10, 20, 30)]
    diagnosis = balance.diagnose(trains, evals, 2.0, chosen)
    assert diagnosis.verdict == "forgetting" and "8.0%" in diagnosis.reason


def test_needing_a_weak_blend_to_stay_within_the_drift_bound_is_forgetting():
    full, blend = balance.score([balance.Candidate(30, 1.0, 1.40), balance.Candidate(30, 1.6, 1.03, scale=0.25)],
                                base_valid=2.0, base_probe=1.0)
    evals = [{"step": 10, "valid_loss": 1.5}, {"step": 20, "valid_loss": 1.2}, {"step": 30, "valid_loss": 1.0}]
    trains = [{"step": s, "train_loss": 1.0} for s in (10, 20, 30)]
    diagnosis = balance.diagnose(trains, evals, 2.0, blend, full)
    assert diagnosis.verdict == "forgetting" and "40.0%" in diagnosis.reason and "scale 0.25" in diagnosis.reason
