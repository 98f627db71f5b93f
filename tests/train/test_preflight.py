"""The preflight's time is the whole run's: training, the evaluations on the way, the final evaluation and the
held-out answers, and loading; each said apart, so a 250 s run is not announced as ~36 s of training steps."""

from __future__ import annotations

from anchortune.config import RunConfig
from anchortune.train import preflight

SMOLLM2 = {"parameters": 134_515_008, "layers": 30, "hidden": 576, "vocabulary": 49152, "lora_per_rank": 1_400_000}


def test_the_estimate_counts_evaluations_the_final_evaluation_and_the_answers():
    cfg = RunConfig.build(data="x.jsonl", batch_size=8, epochs=2, max_length=256, lora_r=16, learning_rate=1e-4,
                          precision="fp32").model_copy(update={"lora_alpha": 32})
    found = preflight.estimate(cfg, 1, 1, 162, 120.0, SMOLLM2, cuda=False, n_valid=18)
    assert found.training_s > 0 and found.evaluations_s > 0 and found.final_s > 0
    assert found.seconds == found.training_s + found.evaluations_s + found.final_s + preflight.LOAD_S
    assert found.seconds > 1.5 * found.training_s  # what a steps-only estimate left out
    words = found.describe()
    assert "in all (training ~" in words and "final evaluation ~" in words
    without = preflight.estimate(cfg, 1, 1, 162, 120.0, SMOLLM2, cuda=False, n_valid=0)
    assert without.evaluations_s == 0 and without.final_s == 0
