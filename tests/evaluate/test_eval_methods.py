"""`anchortune eval` of a preference run and of a tool-calling run: each reports its method's own measures base
against tuned (held-out preference accuracy and reward margin; tool-name accuracy, argument exact match, schema
validity, plain text where no tool is needed), in the terminal, eval.json and eval.md."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from anchortune.app import runs as app_runs
from anchortune.cli.main import app
from anchortune.config import RunConfig

THINGS = ("order", "parcel", "refund", "invoice", "account", "card", "voucher", "delivery")
RUN = {"precision": "fp32", "batch_size": 4, "learning_rate": 5e-3, "lora_r": 4, "lora_alpha": 8, "max_length": 48,
       "val_fraction": 0.25}
TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look up an order", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]


def tool_rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"Where is order A{i}?"},
                          {"role": "assistant", "tool_calls": [{"type": "function", "function": {
                              "name": "order_status", "arguments": json.dumps({"order_id": f"A{i}"})}}]}],
             "tools": TOOLS} for i in range(n)]


def test_eval_of_a_dpo_run_reports_preference_accuracy_base_against_tuned(write_lines, tiny_model_dir, tmp_path):
    pairs = write_lines("pairs.jsonl", [{"prompt": f"When does my {t} number {i} arrive?",
                                         "chosen": f"Your {t} never arrives, we lost it.",
                                         "rejected": f"Your {t} arrives today, we checked it."}
                                        for i, t in ((i, THINGS[i % 8]) for i in range(32))])
    cfg = RunConfig.build(data=str(pairs), model=str(tiny_model_dir), objective="dpo", max_steps=8, eval_every=8,
                          **RUN)
    run = app_runs.train_run(cfg, tmp_path / "run", force=True).folder
    general = tmp_path / "general.txt"
    general.write_text("The river flows to the sea. Mountains rise above the valley. " * 100)
    result = CliRunner().invoke(app, ["eval", str(run), "--general-text", str(general)])
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "eval.json").read_text())
    assert stored["objective"] == "dpo" and stored["examples"] == 8
    base, tuned = (stored["preference"][k]["preference_accuracy"] for k in ("base", "tuned"))
    assert base == 0.0 and tuned >= 0.75  # the same held-out pairs the run measured
    assert stored["models"]["tuned"]["preference_accuracy"] == tuned and "general_text_loss" in stored["retention"]
    output = " ".join(result.output.split())
    assert f"held-out preference accuracy (8 pairs): base 0.0% -> tuned {tuned:.1%}" in output
    assert "general_text_loss" in output and "verdict:" in output
    assert "Held-out preferences (8 pairs)" in (run / "eval.md").read_text()


def test_eval_of_a_tool_calling_run_reports_its_calls_base_against_tuned(write_lines, tiny_model_dir, tmp_path):
    cfg = RunConfig.build(data=str(write_lines("tools.jsonl", tool_rows(12))),
                          model=str(tiny_model_dir), chat_template="chatml-tools", precision="fp32", batch_size=4,
                          max_steps=1, max_length=768, val_fraction=0.25, learning_rate=1e-3)
    run = app_runs.train_run(cfg, tmp_path / "run", force=True).folder
    result = CliRunner().invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "eval.json").read_text())
    for name in ("base", "tuned"):
        assert {"tool_name_accuracy", "argument_exact_match"} <= set(stored["models"][name])
        assert stored["tool_calls"][name]["conversations_with_calls"] == 3
    output = " ".join(result.output.split())
    for words in ("tool name accuracy (3 held-out conversations): base", "argument exact match", "schema validity",
                  "plain text when no tool"):
        assert words in output
    assert "Held-out tool calls (3 conversations)" in (run / "eval.md").read_text()
