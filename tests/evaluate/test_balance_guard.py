"""The balance guard on the tiny model: overfitting and underfitting are diagnosed, and checkpoints
are chosen by balance; the rules themselves on hand-made curves."""

from __future__ import annotations

import pytest

from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points
from anchortune.evaluate import balance


def tiny_run(tmp_path, model, name, points, **options):
    data = save_anchor_points(points, tmp_path / f"{name}.jsonl")
    values = dict(data=str(data), task="support", model=str(model), batch_size=4, max_length=192, precision="fp32",
                  patience=0, val_fraction=0.3)
    values.update(options)
    return app_runs.train_run(RunConfig.build(**values), tmp_path / name, force=True)


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


def test_inside_the_bounds_the_most_gain_wins_and_past_them_gain_pays_for_what_was_lost():
    base = balance.Reference(2.0, probe_loss=2.0, text_loss=3.0, cloze_accuracy=0.9)
    early, late, past, blend = balance.score([
        balance.Candidate(10, 1.20, 2.3, text_loss=3.03, cloze_accuracy=0.90),
        balance.Candidate(20, 1.00, 2.9, text_loss=3.12, cloze_accuracy=0.88),  # +4 % text, 2 points: inside
        balance.Candidate(30, 0.95, 3.0, text_loss=3.45, cloze_accuracy=0.80),  # +15 % text: far past the bound
        balance.Candidate(30, 1.05, 2.2, scale=0.5, text_loss=3.09, cloze_accuracy=0.9)], base)
    assert late.retention == 1.0 and early.retention == 1.0
    assert past.retention == 0.0 and past.forgot() and "15.0%" in past.forgot()
    assert balance.choose([early, late, past, blend])[0] is late
    assert late.drift == pytest.approx(0.45)  # the answer style moved a lot: reported, no veto


def test_retention_falls_linearly_past_the_bound_to_zero_at_twice_it():
    base = balance.Reference(2.0, text_loss=1.0, cloze_accuracy=0.8)
    at_bound, between, cloze_only = balance.score([
        balance.Candidate(1, 1.5, None, text_loss=1.0 + balance.TEXT_BOUND, cloze_accuracy=0.8),
        balance.Candidate(2, 1.5, None, text_loss=1.0 + 1.5 * balance.TEXT_BOUND, cloze_accuracy=0.8),
        balance.Candidate(3, 1.5, None, text_loss=1.0, cloze_accuracy=0.8 - 1.5 * balance.CLOZE_BOUND)], base)
    assert at_bound.retention == pytest.approx(1.0)
    assert between.retention == pytest.approx(0.5) and cloze_only.retention == pytest.approx(0.5)
    assert "cloze accuracy fell" in cloze_only.forgot()


def test_measures_the_base_model_fails_itself_are_left_out():
    assert balance.informative(2.5, 0.85, 49152) == (2.5, 0.85)
    assert balance.informative(6.3, 0.52, 600) == (None, None)  # a random model: chance on both
    quiet = balance.score([balance.Candidate(1, 1.0, 1.0, text_loss=9.0, cloze_accuracy=0.1)],
                          balance.Reference(2.0, probe_loss=1.0))[0]
    assert quiet.retention == 1.0 and quiet.text_drift is None and quiet.cloze_drop is None


@pytest.mark.parametrize("valid, verdict", [
    ([2.0, 1.5, 1.2, 1.1, 1.09], "well tuned"),
    ([2.0, 1.2, 1.3, 1.5, 1.7], "overfitting"),
    ([2.15, 2.12, 2.1, 2.09, 2.08], "underfitting"),
    ([2.1, 1.8, 1.5, 1.2, 0.9], "underfitting"),  # the last evaluation brought a quarter of the gain
    ([1.2, 0.193, 0.145, 0.144, 0.136], "well tuned"),  # 5.6 % of the loss, 0.4 % of the gain: done
])
def test_diagnosis_rules_on_hand_made_curves(valid, verdict):
    evals = [{"step": 10 * (i + 1), "valid_loss": v} for i, v in enumerate(valid)]
    trains = [{"step": 10 * (i + 1), "train_loss": 2.0 - 0.2 * i} for i in range(len(valid))]
    chosen = balance.Candidate(min(evals, key=lambda r: r["valid_loss"])["step"], min(valid), 1.0, text_loss=2.02)
    balance.score([chosen], balance.Reference(2.2, probe_loss=1.0, text_loss=2.0))
    assert balance.diagnose(trains, evals, 2.2, chosen).verdict == verdict


def test_forgetting_is_diagnosed_from_general_text_not_from_answer_style():
    base = balance.Reference(2.0, probe_loss=1.0, text_loss=3.0, cloze_accuracy=0.9)
    evals = [{"step": 10, "valid_loss": 1.5}, {"step": 20, "valid_loss": 1.01}, {"step": 30, "valid_loss": 1.0}]
    trains = [{"step": s, "train_loss": 1.0} for s in (10, 20, 30)]
    forgot = balance.score([balance.Candidate(30, 1.0, 1.01, text_loss=3.24, cloze_accuracy=0.9)], base)[0]
    diagnosis = balance.diagnose(trains, evals, 2.0, forgot)
    assert diagnosis.verdict == "forgetting" and "8.0%" in diagnosis.reason and "general text" in diagnosis.reason
    styled = balance.score([balance.Candidate(30, 1.0, 1.46, text_loss=3.03, cloze_accuracy=0.9)], base)[0]
    diagnosis = balance.diagnose(trains, evals, 2.0, styled)
    assert diagnosis.verdict == "well tuned" and "answer style drift +46.0%" in diagnosis.reason


def test_needing_a_weak_blend_to_stay_within_the_bound_is_forgetting():
    base = balance.Reference(2.0, probe_loss=1.0, text_loss=3.0, cloze_accuracy=0.9)
    full, blend = balance.score([balance.Candidate(30, 1.0, 1.40, text_loss=3.6, cloze_accuracy=0.9),
                                 balance.Candidate(30, 1.6, 1.03, scale=0.25, text_loss=3.06, cloze_accuracy=0.9)],
                                base)
    evals = [{"step": 10, "valid_loss": 1.5}, {"step": 20, "valid_loss": 1.2}, {"step": 30, "valid_loss": 1.0}]
    trains = [{"step": s, "train_loss": 1.0} for s in (10, 20, 30)]
    diagnosis = balance.diagnose(trains, evals, 2.0, blend, full)
    assert diagnosis.verdict == "forgetting" and "20.0%" in diagnosis.reason and "scale 0.25" in diagnosis.reason
