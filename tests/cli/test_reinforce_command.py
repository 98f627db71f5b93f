"""`anchortune train --objective reinforcement --grader FILE.json`: a reinforcement run from the command line that
starts from a supervised run folder (--model RUN), says its reward as it goes and at the end; a grader file that is
not JSON is refused with file, line and column before any work."""

from __future__ import annotations

import json


def test_a_reinforcement_run_starts_from_a_supervised_run_with_a_grader_file(cli, tiny_run, support_file, tmp_path):
    grader = tmp_path / "grader.json"
    grader.write_text(json.dumps({"type": "text_similarity", "name": "close", "evaluation_metric": "rouge_l",
                                  "input": "{{sample.output_text}}", "reference": "{{item.reference_answer}}"}))
    ran = cli("train", support_file, "--task", "support", "--model", tiny_run, "--objective", "reinforcement",
              "--grader", grader, "--out", tmp_path / "rl", "--max-steps", "2", "--batch-size", "2",
              "--num-generations", "2", "--max-answer-tokens", "6", "--precision", "fp32", "--force")
    assert ran.code == 0, ran.err
    assert "held-out mean reward: base" in ran.out and "verdict:" in ran.out and "step 2: held-out reward" in ran.out
    summary = json.loads((tmp_path / "rl" / "summary.json").read_text())
    assert summary["objective"] == "reinforcement" and summary["base_model"] == str(tiny_run)
    assert summary["grader"]["name"] == "close" and summary["reinforcement"]["prompts"] > 0
    assert "reward_spread" in (tmp_path / "rl" / "metrics.jsonl").read_text()


def test_a_grader_file_that_is_not_json_is_refused_before_any_work(cli, support_file, tmp_path):
    grader = tmp_path / "grader.json"
    grader.write_text('{"type": "string_check",\n  "operation": eq}\n')
    ran = cli("train", support_file, "--objective", "reinforcement", "--grader", grader, "--out", tmp_path / "rl")
    assert ran.code == 2 and "grader.json', line 2, column 16: not JSON" in ran.err and "Traceback" not in ran.err
    assert not (tmp_path / "rl").exists()
