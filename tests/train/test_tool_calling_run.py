"""Tool-calling supervised runs: assistant turns are trained with their tool calls as the model's own chat template
renders them, a template that cannot render tools is refused with what it drops, and the run reports its held-out
calls base against tuned."""

from __future__ import annotations

import json

import pytest

from anchortune.app.runs import train_run
from anchortune.config import RunConfig
from anchortune.errors import ConfigError

TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look up an order", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]


def rows(n: int, answered: bool = True) -> list[dict]:
    """Conversations that call order_status; `answered`: the result and the assistant's words after it follow."""
    after = [{"role": "tool", "content": "shipped"}, {"role": "assistant", "content": "It has shipped."}]
    return [{"messages": [{"role": "user", "content": f"Where is order A{i}?"},
                          {"role": "assistant", "tool_calls": [{"type": "function", "function": {
                              "name": "order_status", "arguments": json.dumps({"order_id": f"A{i}"})}}]},
                          *(after if answered else [])], "tools": TOOLS}
            for i in range(n)]


def test_the_calls_and_answers_are_trained_the_tool_results_are_not(write_lines, tiny_tokenizer):
    from anchortune.data import chat_templates
    from anchortune.data.loading import load_anchor_points
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import IGNORE, encode

    tokenizer = chat_templates.use(tiny_tokenizer, "chatml-tools")
    points = load_anchor_points(write_lines("tools.jsonl", rows(1)))
    [example], _ = encode(points, load_preset("custom"), tokenizer, 2048)
    trained = tokenizer.decode([t for t in example["labels"] if t != IGNORE])
    assert '{"name": "order_status", "arguments": {"order_id": "A0"}}' in trained
    assert "It has shipped." in trained and "shipped\n</tool_response>" not in trained
    assert "Where is order" not in trained and "order_id" in trained


def test_a_template_that_cannot_render_tools_is_refused_with_what_it_drops(write_lines, tiny_model_dir, tmp_path):
    cfg = RunConfig.build(data=str(write_lines("tools.jsonl", rows(8))), model=str(tiny_model_dir))
    with pytest.raises(ConfigError, match="cannot render tool calls: it leaves out the offered tools and the "
                                          "assistant's tool calls.*--chat-template chatml-tools"):
        train_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_tool_calling_run_reports_its_held_out_calls_base_against_tuned(write_lines, tiny_model_dir, tmp_path):
    cfg = RunConfig.build(data=str(write_lines("tools.jsonl", rows(12, answered=False))), model=str(tiny_model_dir),
                          chat_template="chatml-tools", precision="fp32", batch_size=4, max_steps=1, max_length=768,
                          val_fraction=0.25, learning_rate=1e-3)
    outcome = train_run(cfg, tmp_path / "run", force=True)
    found = outcome.summary["tool_calls"]
    assert found["examples"] == 3 and set(found) >= {"base", "tuned", "change", "exact_gain"}
    for model in ("base", "tuned"):
        assert found[model]["conversations_with_calls"] == 3 and found[model]["no_tool_questions"] == 12
        assert 0 <= found[model]["tool_name_accuracy"] <= 1
    assert outcome.summary["verdict"]["answers"].startswith("held-out tool calls over 3 conversations")
    saved = json.loads((outcome.folder / "model" / "tokenizer_config.json").read_text())
    assert "<tool_call>" in (saved.get("chat_template") or (outcome.folder / "model" / "chat_template.jinja").read_text())
    assert "## Held-out tool calls (3 conversations)" in (outcome.folder / "README.md").read_text()
