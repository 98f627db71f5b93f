"""Tool-calling conversations in OpenAI's chat format: tools, parallel calls and their results are read into anchor
points, and each defect of a tool file is a problem naming its line and field."""

from __future__ import annotations

import pytest

from anchortune.data.loading import load_anchor_points, save_anchor_points
from anchortune.errors import DataError

TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look an order up",
                                           "parameters": {"type": "object",
                                                          "properties": {"order_id": {"type": "string"}},
                                                          "required": ["order_id"]}}},
         {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
             "city": {"type": "string"}}}}}]
USER = {"role": "user", "content": "Where are my orders A17 and B2?"}


def call(name: str, arguments: str, id_: str | None = None) -> dict:
    out = {"type": "function", "function": {"name": name, "arguments": arguments}}
    return out | ({"id": id_} if id_ else {})


def row(*turns, tools=TOOLS) -> dict:
    return {"messages": [USER, *turns], "tools": tools}


def test_parallel_calls_and_their_results_are_read(write_lines, tmp_path):
    path = write_lines("tools.jsonl", [row(
        {"role": "assistant", "content": None, "tool_calls": [call("order_status", '{"order_id": "A17"}', "c1"),
                                                              call("order_status", '{"order_id": "B2"}', "c2")]},
        {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
        {"role": "tool", "tool_call_id": "c2", "content": {"state": "packing"}},
        {"role": "assistant", "content": "A17 has shipped; B2 is being packed."})])
    [point] = load_anchor_points(path)
    calls = point.messages[1]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == [{"order_id": "A17"}, {"order_id": "B2"}]
    assert point.messages[3]["content"] == '{"state": "packing"}' and point.messages[2]["tool_call_id"] == "c1"
    assert [t["function"]["name"] for t in point.tools] == ["order_status", "weather"]
    assert point.answer == "A17 has shipped; B2 is being packed."
    again = load_anchor_points(save_anchor_points([point], tmp_path / "again.jsonl"))
    assert again[0].messages == point.messages and again[0].tools == point.tools


def test_a_final_call_is_the_answer_as_text(write_lines):
    [point] = load_anchor_points(write_lines("t.jsonl", [row(
        {"role": "assistant", "tool_calls": [call("weather", '{"city": "Graz"}')]})]))
    assert point.answer == 'weather({"city": "Graz"})' and point.final_turn["content"] == ""


def test_a_conversation_offering_tools_may_answer_in_plain_text(write_lines):
    [point] = load_anchor_points(write_lines("t.jsonl", [row({"role": "assistant", "content": "Hello!"})]))
    assert point.answer == "Hello!" and len(point.tools) == 2


@pytest.mark.parametrize("bad, field, said", [
    (row({"role": "assistant", "tool_calls": [call("order_status", "{'order_id': 'A17'}")]}),
     "messages[1].tool_calls[0].function.arguments", "the arguments are not valid JSON (Expecting property name"),
    (row({"role": "assistant", "tool_calls": [call("order_status", '["A17"]')]}),
     "messages[1].tool_calls[0].function.arguments", "expected the arguments as a JSON object, found a list"),
    (row({"role": "assistant", "tool_calls": [call("refund", '{"order_id": "A17"}')]}),
     "messages[1].tool_calls[0].function.name", "calls \"refund\", which is not in tools (offered: order_status, weather)"),
    ({"messages": [USER, {"role": "assistant", "tool_calls": [call("refund", "{}")]}]},
     "messages[1].tool_calls[0].function.name", "the row offers no tools"),
    (row({"role": "assistant", "tool_calls": []}), "messages[1].tool_calls", "expected a non-empty list of calls"),
    (row({"role": "assistant"}), "messages[1]", "neither content nor tool_calls"),
    (row({"role": "tool", "content": "shipped"}), "messages[1].role", "a tool result with no tool call before it"),
    (row({"role": "assistant", "tool_calls": [call("weather", "{}", "c1")]},
         {"role": "tool", "tool_call_id": "c9", "content": "sunny"}),
     "messages[2].tool_call_id", "answers the call \"c9\", which the turn before did not make (its calls: c1)"),
    (row({"role": "robot", "content": "beep"}), "messages[1].role", "expected one of system, user, assistant, tool"),
    (row({"role": "assistant", "content": "ok"}, tools={"name": "x"}), "tools", "expected a list of tools"),
    (row({"role": "assistant", "content": "ok"}, tools=[{"type": "function", "function": {"name": "look up"}}]),
     "tools[0].function.name", "expected a name of 1 to 64 letters"),
    (row({"role": "assistant", "content": "ok"}, tools=[TOOLS[0], TOOLS[0]]), "tools[1].function.name",
     "offered twice"),
    (row({"role": "assistant", "content": "ok"}, tools=[{"type": "function", "function": {
        "name": "x", "parameters": {"type": "string"}}}]), "tools[0].function.parameters",
     "expected a JSON schema of type 'object'"),
])
def test_each_defect_of_a_tool_file_names_its_line_and_field(write_lines, bad, field, said):
    fine = row({"role": "assistant", "tool_calls": [call("weather", '{"city": "Graz"}')]})
    path = write_lines("bad.jsonl", [fine, bad])
    with pytest.raises(DataError) as caught:
        load_anchor_points(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (2, field) and said in problem.message, str(problem)
