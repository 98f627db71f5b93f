"""Preference runs on the tiny random model: DPO with TRL's trainer raises the held-out preference accuracy over the
base model, with the base model itself (the LoRA adapter disabled) as the reference; ORPO trains with no reference;
the balance guard judges both in the supervised run's words; what a preference run cannot do is refused first."""

from __future__ import annotations

import json

import pytest

from anchortune.app.runs import train_run
from anchortune.config import RunConfig
from anchortune.errors import ConfigError, QualityError

THINGS = ("order", "parcel", "refund", "invoice", "account", "card", "voucher", "delivery")
RUN = {"precision": "fp32", "batch_size": 4, "learning_rate": 5e-3, "lora_r": 4, "lora_alpha": 8, "max_length": 48,
       "val_fraction": 0.25}
VERDICTS = {"well tuned", "partly tuned", "no better than the base", "overfitting", "underfitting", "forgetting",
            "not judged"}


@pytest.fixture
def pairs_file(write_lines):
    """48 pairs whose chosen answer the random model finds the less likely: room to learn."""
    return write_lines("pairs.jsonl", [{"prompt": f"When does my {t} number {i} arrive?",
                                        "chosen": f"Your {t} never arrives, we lost it.",
                                        "rejected": f"Your {t} arrives today, we checked it."}
                                       for i, t in ((i, THINGS[i % 8]) for i in range(48))])


def test_dpo_raises_held_out_preference_accuracy_with_the_base_model_as_reference(pairs_file, tiny_model_dir,
                                                                                   tmp_path):
    cfg = RunConfig.build(data=str(pairs_file), model=str(tiny_model_dir), objective="dpo", max_steps=8, eval_every=4,
                          **RUN)
    outcome = train_run(cfg, tmp_path / "run", force=True)
    summary = outcome.summary
    found = summary["preference"]
    assert found["pairs"] == 12 and found["base"]["preference_accuracy"] == 0.0
    assert found["tuned"]["preference_accuracy"] >= 0.75 and found["tuned"]["reward_accuracy"] >= 0.75
    assert found["tuned"]["reward_margin"] > 0 and found["accuracy_gain_interval"][0] > 0
    assert summary["training"]["reference"] == "the base model (the LoRA adapter disabled): no second copy in memory"
    assert summary["losses"]["base_valid"] == pytest.approx(0.6931, abs=1e-3)  # DPO's loss where policy = reference
    assert summary["losses"]["tuned_valid"] < summary["losses"]["base_valid"]
    assert summary["verdict"]["verdict"] in VERDICTS and summary["balance"]["diagnosis"]["verdict"] in VERDICTS
    evals = [json.loads(line) for line in (outcome.folder / "metrics.jsonl").read_text().splitlines()
             if "valid_loss" in line]
    assert [r["step"] for r in evals] == [4, 8] and all("reward_accuracy" in r and "text_loss" in r for r in evals)
    assert (outcome.folder / "adapter" / "adapter_config.json").is_file()
    assert (outcome.folder / "model" / "model.safetensors").is_file()
    card = (outcome.folder / "README.md").read_text()
    assert "## Held-out preferences (12 pairs)" in card and "| base | 0 % |" in card


def test_orpo_trains_with_no_reference_model(pairs_file, tiny_model_dir, tmp_path):
    cfg = RunConfig.build(data=str(pairs_file), model=str(tiny_model_dir), objective="orpo", max_steps=4, eval_every=4,
                          **RUN)
    summary = train_run(cfg, tmp_path / "run", force=True).summary
    assert summary["training"]["reference"] == "none (ORPO needs no reference model)"
    assert summary["preference"]["tuned"]["reward_margin"] > 0
    assert summary["losses"]["tuned_valid"] < summary["losses"]["base_valid"]


@pytest.mark.parametrize("options, said", [
    ({"objective": "dpo", "method": "full"}, "--objective dpo trains a LoRA adapter"),
    ({"objective": "dpo", "replay": 0.1}, "--replay applies to supervised runs"),
    ({"objective": "orpo", "kl_general": 0.1}, "--kl-general applies to supervised runs"),
])
def test_what_a_preference_run_cannot_do_is_refused_before_any_work(pairs_file, tiny_model_dir, tmp_path, options,
                                                                     said):
    cfg = RunConfig.build(data=str(pairs_file), model=str(tiny_model_dir), **options)
    with pytest.raises(ConfigError, match=said):
        train_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_one_sided_pairs_stop_the_run_at_the_gate(write_lines, tiny_model_dir, tmp_path):
    rows = [{"prompt": f"Where is my {t} number {i}?", "chosen": f"Your {t} is on its way and arrives within two working "
                                                                f"days; here is the tracking link for it.",
             "rejected": "No."} for i, t in ((i, THINGS[i % 8]) for i in range(40))]
    cfg = RunConfig.build(data=str(write_lines("lopsided.jsonl", rows)), model=str(tiny_model_dir), objective="dpo")
    with pytest.raises(QualityError, match="one-sided: the chosen answer is the longer one in 100% of the pairs"):
        train_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
