"""The command line: thin commands, readable errors with exit codes, the README's two commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anchortune.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchortune", *args], capture_output=True, text=True, timeout=300)


def test_bad_anchor_points_print_line_and_field_without_traceback(write_lines):
    path = write_lines("bad.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": ["x"], "completion": "b"}])
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "line 2, field 'prompt'" in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_unknown_model_is_one_readable_line(support_file, tmp_path):
    result = run_cli("train", str(support_file), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "r"))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "not found; tried" in result.stderr
    assert not (tmp_path / "r").exists()


def test_invalid_option_value_is_reported_by_name(support_file, tmp_path):
    result = run_cli("train", str(support_file), "--lr", "-1", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "--lr must be a finite number > 0 and <= 1, not -1.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_summarises_good_data(support_file):
    result = runner.invoke(app, ["validate", str(support_file)])
    assert result.exit_code == 0 and "36 anchor points" in result.output and "12 labels" in result.output
    assert "empty answer" not in result.output


def test_validate_names_the_lines_whose_answer_is_empty(write_lines):
    """Well-formed rows with nothing to learn from: validate says which (the gate flags them, --fix leaves them
    out) and still succeeds, as the file can be read."""
    data = write_lines("some_empty.jsonl", [{"prompt": "Where is my order?", "completion": "On its way."},
                                            {"prompt": "Can I return it?", "completion": ""},
                                            {"prompt": "Do you ship abroad?", "completion": "   "}])
    result = runner.invoke(app, ["validate", str(data)])
    assert result.exit_code == 0, result.output
    assert "2 anchor points have an empty answer (lines 2, 3)" in result.output


def test_models_list_shows_the_catalog(monkeypatch):
    from anchortune.cli.console import console

    monkeypatch.setattr(console, "_width", 200)  # the console's width, whatever the terminal of the test run
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "smollm2-135m-instruct" in result.output and "gemma-3-270m" in result.output
    assert "┃ licence" in result.output  # a table on a wide terminal
    monkeypatch.setattr(console, "_width", 80)
    narrow = runner.invoke(app, ["models", "list"])  # one block per model, nothing truncated
    assert narrow.exit_code == 0 and "  licence: Apache-2.0" in narrow.output and "…" not in narrow.output


def test_demo_data_writes_a_loadable_set(tmp_path):
    result = runner.invoke(app, ["demo-data", "invoice", str(tmp_path / "inv.jsonl"), "--n", "12"])
    assert result.exit_code == 0
    assert len((tmp_path / "inv.jsonl").read_text().splitlines()) == 12


def test_train_command_runs_on_the_tiny_model(support_file, tiny_model_dir, tmp_path):
    result = runner.invoke(app, ["train", str(support_file), "--task", "support", "--model", str(tiny_model_dir),
                                 "--out", str(tmp_path / "run"), "--max-steps", "4", "--eval-every", "2",
                                 "--batch-size", "4", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "held-out answer loss: base" in result.output and (tmp_path / "run" / "model").is_dir()
    assert "engine auto:" in result.output and "engine: auto -> " in result.output  # which path each part took


def test_the_standard_engine_is_chosen_on_the_command_line(support_file, tiny_model_dir, tmp_path):
    import json

    result = runner.invoke(app, ["train", str(support_file), "--task", "support", "--model", str(tiny_model_dir),
                                 "--out", str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "4",
                                 "--precision", "fp32", "--engine", "standard"])
    assert result.exit_code == 0, result.output
    assert "engine standard: standard path" in result.output
    engine = json.loads((tmp_path / "run" / "summary.json").read_text())["training"]["engine"]
    assert engine["requested"] == "standard" and engine["path"] == "standard"
    paths = [p["path"] for p in engine["parts"].values()]
    assert "fast" not in paths and paths.count("standard") >= 4  # bf16-only parts are 'not needed' in fp32
    refused = run_cli("train", str(support_file), "--engine", "turbo", "--out", str(tmp_path / "r2"))
    assert refused.returncode == 2 and "engine" in refused.stderr and "Traceback" not in refused.stderr


def test_readme_opens_with_the_two_commands_the_makefile_defines():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["models", "--help"]])
def test_help_is_available(args):
    result = run_cli(*args)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_chat_and_generate_talk_to_a_trained_run(support_file, tiny_model_dir, tmp_path, write_lines):
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", str(support_file), "--task", "support", "--model", str(tiny_model_dir),
                                  "--out", str(run), "--max-steps", "2", "--batch-size", "4", "--precision", "fp32"])
    assert trained.exit_code == 0, trained.output
    chat = runner.invoke(app, ["chat", str(run)], input="Where is my order?\nAnd my refund?\n\n")
    assert chat.exit_code == 0 and chat.output.count("model>") == 2
    prompts = write_lines("prompts.jsonl", [{"prompt": "hi"}, {"prompt": "where is my parcel?"}])
    out = tmp_path / "answers.jsonl"
    generated = runner.invoke(app, ["generate", str(run), str(prompts), "--out", str(out), "--max-new-tokens", "4"])
    assert generated.exit_code == 0 and len(out.read_text().splitlines()) == 2


def test_check_prints_verdict_reasons_and_writes_reports(tmp_path):
    data = tmp_path / "support.jsonl"
    assert runner.invoke(app, ["demo-data", "support", str(data)]).exit_code == 0
    result = runner.invoke(app, ["check", str(data), "--task", "support", "--html", str(tmp_path / "q.html"),
                                 "--json", str(tmp_path / "q.json"), "--fix", str(tmp_path / "clean.jsonl")])
    assert result.exit_code == 0, result.output
    assert "good" in result.output and "what to do" in result.output
    assert (tmp_path / "q.html").is_file() and (tmp_path / "clean.changelog.jsonl").is_file()
