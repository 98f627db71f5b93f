"""Reinforcement runs on the tiny random model: GRPO with TRL's trainer over a grader, the held-out reward of base
and tuned model, progress rows with reward, its spread within groups and the answer length, the guard's checkpoint
on held-out reward and retention, the verdict in the supervised run's words; a grader that fails fails the run and
leaves nothing; what a reinforcement run cannot do is refused first."""

from __future__ import annotations

import json

import pytest

from anchortune.app.runs import train_run
from anchortune.config import RunConfig
from anchortune.errors import ConfigError, RunError

RUN = {"precision": "fp32", "batch_size": 2, "learning_rate": 5e-3, "lora_r": 4, "lora_alpha": 8, "max_length": 96,
       "val_fraction": 0.25, "num_generations": 2, "max_answer_tokens": 6}
VERDICTS = {"well tuned", "partly tuned", "no better than the base", "forgetting", "not judged"}
THINGS = ("order", "parcel", "refund", "invoice", "account", "card", "voucher", "delivery")


@pytest.fixture
def points_file(write_lines):
    return write_lines("points.jsonl", [{"prompt": f"Where is my {THINGS[i % 8]} number {i}?",
                                         "completion": f"Your {THINGS[i % 8]} is on its way."} for i in range(24)])


def grader_file(tmp_path, spec: dict):
    path = tmp_path / "grader.json"
    path.write_text(json.dumps(spec))
    return path


def test_a_reinforcement_run_grades_samples_measures_held_out_reward_and_keeps_a_checkpoint(points_file,
                                                                                           tiny_model_dir, tmp_path):
    grader = {"type": "string_check", "name": "mentions", "input": "{{sample.output_text}}", "reference": "your",
              "operation": "ilike"}
    cfg = RunConfig.build(data=str(points_file), model=str(tiny_model_dir), objective="reinforcement", grader=grader,
                          max_steps=4, eval_every=2, **RUN)
    outcome = train_run(cfg, tmp_path / "run", force=True)
    summary = outcome.summary
    found = summary["reinforcement"]
    assert found["prompts"] == 6 and 0 <= found["base"]["reward"] <= 1 and 0 <= found["tuned"]["reward"] <= 1
    assert summary["grader"] == grader and summary["training"]["num_generations"] == 2
    assert summary["verdict"]["verdict"] in VERDICTS
    rows = [json.loads(line) for line in (outcome.folder / "metrics.jsonl").read_text().splitlines()]
    trains = [r for r in rows if "train_loss" in r]
    assert trains and all({"reward", "reward_spread", "answer_tokens", "kl"} <= set(r) for r in trains)
    assert all(0 < r["answer_tokens"] <= 6 for r in trains)
    evals = [r for r in rows if "valid_reward" in r]
    assert [r["step"] for r in evals] == [2, 4] and all("text_loss" in r for r in evals)
    assert all(r["valid_loss"] == pytest.approx(1 - r["valid_reward"]) for r in evals)
    assert summary["training"]["best_step"] in (2, 4)
    assert (outcome.folder / "adapter" / "adapter_config.json").is_file()
    assert (outcome.folder / "model" / "model.safetensors").is_file()
    card = (outcome.folder / "README.md").read_text()
    assert "## Held-out reward (6 prompts, grader `mentions`, string_check)" in card
