"""Tool calls read out of generated answers whatever the template's layout, and measured against held-out
conversations: the right tools, the right arguments, calls that fit their schema, and plain text where no tool is
needed; the verdict in the supervised run's words."""

from __future__ import annotations

import json

from anchortune.data.records import AnchorPoint
from anchortune.evaluate import tool_calls

TOOLS = (
    {"type": "function", "function": {"name": "order_status", "description": "Look up an order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}, "full": {"type": "boolean"}},
        "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}}}}},
)


def held(*calls) -> AnchorPoint:
    turn = {"role": "assistant", "content": "Hello!"} if not calls else {"role": "assistant", "content": "",
        "tool_calls": [{"type": "function", "function": {"name": n, "arguments": a}} for n, a in calls]}
    return AnchorPoint(({"role": "user", "content": "?"}, turn), 1, tools=TOOLS)


def wrapped(*calls) -> str:
    return "".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in calls)


def test_calls_are_read_from_tags_lists_and_strings_of_arguments():
    assert tool_calls.parse_calls(wrapped(("weather", {"city": "Graz"}))) == [{"name": "weather",
                                                                              "arguments": {"city": "Graz"}}]
    listed = '[{"name": "weather", "parameters": {"days": 2}}, {"name": "order_status", "arguments": "{\\"order_id\\": \\"A1\\"}"}]'
    assert [c["name"] for c in tool_calls.parse_calls(listed)] == ["weather", "order_status"]
    assert tool_calls.parse_calls('{"tool_calls": [{"name": "weather", "arguments": {}}]}') == [
        {"name": "weather", "arguments": {}}]
    assert tool_calls.parse_calls("It is sunny in Graz {today}.") == []


def test_a_conversation_is_measured_where_it_calls_not_on_its_words_after_the_result():
    call = {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
        "name": "weather", "arguments": {"city": "Graz"}}}]}
    point = AnchorPoint(({"role": "user", "content": "Weather in Graz?"}, call, {"role": "tool", "content": "sunny"},
                         {"role": "assistant", "content": "It is sunny."}), 1, tools=TOOLS)
    assert tool_calls.prompt_of(point) == [{"role": "user", "content": "Weather in Graz?"}]
    assert tool_calls.reference_calls(point) == [{"name": "weather", "arguments": {"city": "Graz"}}]


def test_names_arguments_schema_and_plain_text_are_measured():
    cases = [held(("order_status", {"order_id": "A1"})), held(("weather", {"city": "Graz", "days": 2})),
             held(("order_status", {"order_id": "B2"}), ("weather", {"city": "Linz"})), held()]
    answers = [wrapped(("order_status", {"order_id": "A1"})),  # right
               wrapped(("weather", {"city": "Graz", "days": 2.0})),  # right: 2.0 is 2
               wrapped(("weather", {"city": "Linz"}), ("order_status", {"order_id": "B3"})),  # names right, a value not
               wrapped(("weather", {"city": 7}))]  # a call where words were wanted, its argument not a string
    found = tool_calls.score(answers, cases, no_tool_answers=["Paris is the capital of France.", wrapped(("weather", {}))])
    assert found["tool_name_accuracy"] == 1.0 and found["argument_exact_match"] == 2 / 3
    assert found["schema_validity"] == 4 / 5 and found["calls_made"] == 5
    assert found["plain_text_when_no_tool"] == 1 / 3 and found["no_tool_questions"] == 3


def test_a_model_that_calls_tools_on_general_questions_is_forgetting():
    cases = [held(("weather", {"city": f"C{i}"})) for i in range(6)]
    right = [wrapped(("weather", {"city": f"C{i}"})) for i in range(6)]
    comparison = tool_calls.compare(cases, {"base": ["no idea"] * 6, "tuned": right},
                                    {"base": ["Paris."] * 4, "tuned": [wrapped(("weather", {}))] * 3 + ["Paris."]})
    assert comparison["change"]["argument_exact_match"] == 1.0 and comparison["exact_gain"]["low"] > 0
    verdict = tool_calls.decide(comparison, {"verdict": "well tuned", "reason": "", "advice": ""})
    assert verdict["verdict"] == "forgetting"
    assert verdict["reason"] == ("the tuned model calls tools where no tool is needed: it answers 25% of the general "
                                 "questions in words, the base model 100%")
    calm = tool_calls.compare(cases, {"base": ["no idea"] * 6, "tuned": right}, {"base": ["Paris."], "tuned": ["Paris."]})
    assert tool_calls.decide(calm, None)["verdict"] == "well tuned"
    none = tool_calls.compare(cases, {"base": ["no idea"] * 6, "tuned": ["no idea"] * 6}, {})
    assert tool_calls.decide(none, None)["verdict"] == "no better than the base"
