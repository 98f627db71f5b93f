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


@pytest.mark.parametrize("source, said", [
    ("def grade(sample, item):\n    raise ValueError('no total in ' + sample['output_text'][:0] + 'the answer')",
     "grader 'judge' failed: ValueError: no total in the answer"),
    ("def grade(sample, item):\n    return 'high'", "grader 'judge' gave 'high', not a finite number"),
    ("def grade(sample, item):\n    return float('nan')", "grader 'judge' gave nan, not a finite number"),
])
def test_a_grader_that_fails_fails_the_run_and_leaves_nothing(points_file, tiny_model_dir, tmp_path, source, said):
    cfg = RunConfig.build(data=str(points_file), model=str(tiny_model_dir), objective="reinforcement",
                          grader={"type": "python", "name": "judge", "source": source}, max_steps=2, **RUN)
    with pytest.raises(RunError) as failed:
        train_run(cfg, tmp_path / "run", force=True)
    assert said in str(failed.value) and failed.value.code == "grader_error"
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_a_grader_that_runs_too_long_or_too_big_is_stopped():
    from anchortune.evaluate.graders import GraderError, run_python

    with pytest.raises(GraderError, match="ran out of CPU time|ran past its 1 s limit"):
        run_python("def grade(sample, item):\n    while True:\n        pass", ["x"], [{}], "spin", seconds=1)
    with pytest.raises(GraderError, match="MemoryError.*256 MiB"):
        run_python("def grade(sample, item):\n    return len(bytearray(1 << 30))", ["x"], [{}], "hog",
                   memory=256 << 20)


def test_the_task_presets_grader_is_the_default_and_the_cli_reads_a_grader_file(tmp_path):
    from anchortune.data.presets import load_preset
    from anchortune.evaluate.graders import read_file
    from anchortune.recipes.reinforce_run import grader_of

    invoice = grader_of(RunConfig.build(data="x", task="invoice", objective="reinforcement"), load_preset("invoice"))
    assert invoice.type == "json_fields" and invoice.fields == tuple(load_preset("invoice").output.fields)
    answer = json.dumps({"company": "ACME", "date": "2024-01-02", "address": "1 Road", "total": "9.50",
                         "invoice_number": "7"})
    assert invoice.score(answer, {"reference_answer": answer}) == 1.0
    assert invoice.score(answer.replace("9.50", "9.05"), {"reference_answer": answer}) == pytest.approx(0.8)
    legal = grader_of(RunConfig.build(data="x", task="legal", objective="reinforcement"),
                      load_preset("legal").model_copy(update={"output": load_preset("legal").output.model_copy(
                          update={"labels": ["overruling", "not overruling"]})}))
    assert legal.score("Label: not overruling", {"reference_answer": "not overruling"}) == 1.0
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "string_check",\n "name": "x", "operation": eq}')
    with pytest.raises(ConfigError, match=r"broken.json', line 2, column 28: not JSON"):
        read_file(broken)
    wrong = grader_file(tmp_path, {"type": "string_check", "name": "x", "operation": "equals"})
    with pytest.raises(ConfigError, match=r"grader \(grader.json\).operation: expected one of eq, ne, like, ilike"):
        read_file(wrong)


@pytest.mark.parametrize("options, param", [({"method": "full"}, "method"), ({"replay": 0.1}, "replay"),
                                            ({"devices": 2}, "devices")])
def test_what_a_reinforcement_run_cannot_do_is_refused_before_any_work(points_file, tmp_path, options, param):
    cfg = RunConfig.build(data=str(points_file), model="missing-model", objective="reinforcement", **options)
    with pytest.raises(ConfigError) as refused:
        train_run(cfg, tmp_path / "run")
    assert refused.value.param == param and not (tmp_path / "run").exists()


def test_the_preflight_counts_samples_per_prompt_and_answer_length():
    from anchortune.data.presets import load_preset
    from anchortune.train.preflight import estimate

    shape = {"parameters": 134_515_008, "lora_per_rank": 100_000, "layers": 30, "hidden": 576, "vocabulary": 49_152}
    def seconds(**options) -> float:
        cfg = RunConfig.build(data="x", task="support", **options).resolve(load_preset("support"))
        return estimate(cfg, 1, 1, 100, 200.0, shape, cuda=False, n_valid=10).training_s

    supervised = seconds(epochs=1)
    four = seconds(objective="reinforcement", epochs=1)
    assert four > 4 * supervised  # four answers per prompt, each generated token by token first
    assert seconds(objective="reinforcement", epochs=1, num_generations=8) > 1.9 * four
    assert seconds(objective="reinforcement", epochs=1, max_answer_tokens=256) > four


def test_the_kept_checkpoint_balances_held_out_reward_against_retention():
    from anchortune.train.engine import Baseline, guard_choice

    base = Baseline(valid_loss=1 - 0.30, text_loss=3.0)  # the reward's shortfall stands in for the validation loss
    evals = [{"step": 2, "valid_loss": 1 - 0.55, "text_loss": 3.03},
             {"step": 4, "valid_loss": 1 - 0.70, "text_loss": 3.06},
             {"step": 6, "valid_loss": 1 - 0.80, "text_loss": 3.45}]  # the most reward, general text +15 %: forgot
    candidates, picked = guard_choice(evals, base)
    assert picked.step == 4 and len(candidates) == 3
    assert candidates[2].forgot() and not picked.forgot()


def test_a_prompt_with_no_room_for_an_answer_is_left_out_and_said(tiny_tokenizer):
    from anchortune.data.presets import load_preset
    from anchortune.data.records import AnchorPoint
    from anchortune.recipes.reinforce_run import _fitting, rows_of

    points = [AnchorPoint(({"role": "user", "content": text}, {"role": "assistant", "content": "fine"}), line)
              for line, text in ((1, "Where is my order?"), (2, "Where is my order? " * 40))]
    rows = rows_of(points, load_preset("support"))
    assert [json.loads(r["item"])["line"] for r in rows] == [1, 2] and rows[0]["prompt"][-1]["role"] == "user"
    said = []
    cfg = RunConfig.build(data="x", max_length=160, max_answer_tokens=32)
    kept = _fitting(rows, tiny_tokenizer, cfg, said.append)
    assert [json.loads(r["item"])["line"] for r in kept] == [1]
    assert said and "1 prompt leaves no room for a 32-token answer within 160 tokens and is left out" in said[0].data["message"]


def test_a_rows_own_fields_reach_the_grader_as_item_fields_and_are_written_back(write_lines, tmp_path):
    """OpenAI's reinforcement rows carry fields a grader names as {{item.field}} (an id, a worked solution, an
    expected value): they are the grader's item beside reference_answer, and a saved copy keeps them."""
    from anchortune.data.loading import load_anchor_points, save_anchor_points
    from anchortune.data.presets import load_preset
    from anchortune.evaluate import graders
    from anchortune.recipes.reinforce_run import rows_of

    path = write_lines("math.jsonl", [{"id": "q-7", "messages": [{"role": "user", "content": "What is 6 x 7?"}],
                                       "reference_answer": "42", "unit": "apples", "solution": "6 x 7 = 42"}])
    points = load_anchor_points(path)
    item = json.loads(rows_of(points, load_preset("custom"))[0]["item"])
    assert item["reference_answer"] == "42" and item["unit"] == "apples" and item["id"] == "q-7"
    assert item["line"] == 1 and item["solution"] == "6 x 7 = 42"
    grader = graders.parse({"type": "string_check", "name": "unit", "operation": "eq",
                            "input": "{{sample.output_text}}", "reference": "{{item.unit}}"}, "the test's grader")
    assert grader.score("apples", item) == 1.0 and grader.score("pears", item) == 0.0
    again = load_anchor_points(save_anchor_points(points, tmp_path / "copy.jsonl"))
    assert again == points and again[0].extra == points[0].extra  # the answer appended once, the fields kept
    saved = json.loads((tmp_path / "copy.jsonl").read_text())
    assert saved["id"] == "q-7" and saved["messages"][-1] == {"role": "assistant", "content": "42"}
