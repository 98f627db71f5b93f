"""The gate's checks of preference pairs (empty or identical sides, a better rejected answer, repeats and
contradictions, one-sided preferences) and of tool-calling data (arguments against the schema, tools never called,
calls nobody asked for), each on a small set built over the clean demo data."""

from __future__ import annotations

import json

import pytest

from anchortune.data.demo_support import support_demo
from anchortune.data.pairs import PreferencePair
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.messages import translate
from anchortune.quality import tool_data
from anchortune.quality.pairs import check_pairs


def pair(line: int, prompt: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair(({"role": "user", "content": prompt},), {"role": "assistant", "content": chosen},
                          {"role": "assistant", "content": rejected}, line)


@pytest.fixture(scope="module")
def clean():
    """40 pairs: each demo answer preferred to another intent's answer, longer and shorter alike."""
    points = support_demo(4)[:40]
    return [pair(i, p.prompt, p.answer, points[(i * 7) % len(points)].answer)
            for i, p in enumerate(points, start=1) if points[(i * 7) % len(points)].answer != p.answer]


def found(report, code: str) -> dict[int, str]:
    return {f.line: f.message for f in report.findings if f.code == code}


def test_clean_pairs_pass_the_pair_checks(clean, embedder):
    report = check_pairs(clean, load_preset("support"), embedder)
    codes = {f.code for f in report.findings if f.at_least("warning")}
    assert not codes & {"empty_side", "identical_sides", "rejected_better", "contradiction", "exact_duplicate"}
    assert report.verdict != "poor" and not any("one-sided" in r for r in report.reasons)


def test_empty_and_identical_sides_are_errors(clean, embedder):
    bad = clean[:30] + [pair(90, "Where is my parcel?", "", "It is on its way."),
                        pair(91, "Can I pay by card?", "Yes, by any major card.", "yes, by any major card")]
    report = check_pairs(bad, load_preset("support"), embedder)
    assert found(report, "empty_side") == {90: "the chosen answer is empty: the pair teaches nothing"}
    assert found(report, "identical_sides") == {91: "the chosen and the rejected answer are the same: the pair "
                                                    "teaches nothing"}
    assert translate(found(report, "empty_side")[90], "de") == "die gewählte Antwort ist leer: das Paar lehrt nichts"


def test_a_rejected_answer_better_by_the_tasks_own_checks_is_flagged(embedder):
    invoices = [pair(i, f"Receipt {i}: total {i}.50 EUR", json.dumps({"total": f"{i}.50"}), json.dumps({"total": "0"}))
                for i in range(1, 25)]
    invoices.append(pair(30, "Receipt 30: total 30.50 EUR", "The total is 30.50", json.dumps({"total": "30.50"})))
    report = check_pairs(invoices, load_preset("invoice").model_copy(update={"output": load_preset("invoice").output
                                                                             .model_copy(update={"fields": ["total"]})}),
                         embedder)
    [(line, message)] = found(report, "rejected_better").items()
    assert line == 30 and message.startswith("the rejected answer passes a check of the task that the chosen one fails "
                                             "(the answer is not valid JSON")


def test_repeated_and_reversed_pairs_are_found(clean, embedder):
    first = clean[0]
    again = pair(80, first.question, first.chosen_text, first.rejected_text)
    reversed_ = pair(81, first.question, first.rejected_text, first.chosen_text)
    report = check_pairs(clean[:30] + [again, reversed_], load_preset("support"), embedder)
    assert found(report, "exact_duplicate") == {80: f"the same pair as line {first.line}"}
    assert found(report, "contradiction") == {81: f"line {first.line} prefers the other answer to the same prompt"}


def test_preferences_that_always_choose_the_longer_answer_are_one_sided(clean, embedder):
    lopsided = [pair(p.line, p.question, p.chosen_text + " We are always glad to help with anything else you need.",
                     "Please wait.") for p in clean]
    report = check_pairs(lopsided, load_preset("support"), embedder)
    assert report.verdict == "poor"
    assert report.reasons[0] == "one-sided: the chosen answer is the longer one in 100% of the pairs"
    assert translate(report.reasons[0], "de") == "einseitig: die gewählte Antwort ist in 100 % der Paare die längere"
    assert report.advice[0].startswith("Choose the better answer for what it says")


def test_one_text_rejected_in_many_pairs_is_one_sided(clean, embedder):
    same = [pair(p.line, p.question, p.chosen_text, "I cannot help with that." if p.line % 2 else p.rejected_text)
            for p in clean]
    report = check_pairs(same, load_preset("support"), embedder)
    assert report.verdict == "poor" and report.reasons[0].startswith(
        "one-sided: 5") and "of the rejected answers are the same text ('I cannot help with that.')" in report.reasons[0]


TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look up the status of an order",
                                           "parameters": {"type": "object", "properties": {
                                               "order_id": {"type": "string"}, "detail": {"enum": ["short", "full"]}},
                                               "required": ["order_id"]}}},
         {"type": "function", "function": {"name": "cancel_order", "description": "Cancel an order",
                                           "parameters": {"type": "object", "properties": {
                                               "order_id": {"type": "string"}}}}}]


def tool_row(line: int, user: str, arguments: dict | None, name: str = "order_status", tools=TOOLS) -> AnchorPoint:
    answer = {"role": "assistant", "content": "Happy to help!"} if arguments is None else \
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": name, "arguments": arguments}}]}
    return AnchorPoint(({"role": "user", "content": user}, answer), line, tools=tuple(tools))


def test_arguments_that_break_the_schema_are_errors():
    rows = [tool_row(1, "Where is order A1?", {"order_id": "A1"}),
            tool_row(2, "Where is order 17?", {"order_id": 17}),
            tool_row(3, "Status of A3 please, in full", {"order_id": "A3", "detail": "everything"}),
            tool_row(4, "What about A4?", {"detail": "short"})]
    messages = {f.line: f.message for f in tool_data.findings(rows) if f.code == "invalid_tool_call"}
    assert messages == {2: "the call to 'order_status' breaks its tool's schema: order_id: 17 is not of type 'string'",
                        3: "the call to 'order_status' breaks its tool's schema: detail: 'everything' is not one of "
                           "['short', 'full']",
                        4: "the call to 'order_status' breaks its tool's schema: 'order_id' is a required property"}


def test_a_tool_offered_in_many_rows_and_never_called_is_a_warning_a_lone_distractor_is_not():
    rows = [tool_row(i, f"Where is order A{i}?", {"order_id": f"A{i}"}) for i in range(1, 5)]
    rows.append(tool_row(9, "Where is order B9?", {"order_id": "B9"}, tools=TOOLS + [{"type": "function", "function": {
        "name": "refund", "description": "Refund an order", "parameters": {"type": "object", "properties": {}}}}]))
    unused = {(f.line, f.severity): f.message for f in tool_data.findings(rows) if f.code == "unused_tool"}
    assert unused == {(1, "warning"): "the tool 'cancel_order' is offered in 5 rows and never called: the model "
                                      "learns never to call it; add examples that call it or leave it out of tools",
                      (9, "info"): "the tool 'refund' is offered in 1 row and never called: a distractor to choose "
                                   "against, or a tool the data forgets to teach"}


def test_a_call_the_conversation_never_asked_for_is_flagged():
    rows = [tool_row(1, "Where is order A1?", {"order_id": "A1"}),
            tool_row(2, "What is the status of my order?", {"order_id": "Z9"}),
            tool_row(3, "Thanks, that is all for today!", {"order_id": "Z9"}),
            tool_row(4, "Please cancel it", {"order_id": "Z9"}, name="cancel_order"),
            tool_row(5, "Hello there", None)]
    needless = {f.line: f.message for f in tool_data.findings(rows) if f.code == "needless_tool_call"}
    assert needless == {3: "the call to 'order_status' uses nothing the conversation says and does nothing it asks "
                           "for: a call out of the blue"}


def test_the_gate_runs_the_tool_checks_on_tool_data(embedder):
    from anchortune.quality.gate import check

    rows = [tool_row(i, p.prompt + f" Order A{i}.", {"order_id": f"A{i}"} if i != 7 else {"order_id": 7})
            for i, p in enumerate(support_demo(2)[:24], start=1)]
    report = check(rows, load_preset("custom"), embedder)
    assert {f.line for f in report.findings if f.code == "invalid_tool_call"} == {7}
    assert "Fix 2 tool calls that break their schema or come out of the blue, and call every offered tool somewhere " \
           "(lines 1, 7)" in report.advice  # 7's arguments, and cancel_order offered in every row from line 1
    assert "template_answer" not in report.counts  # the same call with other values is no template


def test_data_whose_every_conversation_offering_tools_starts_with_a_call_is_one_sided():
    """Trained on calls alone, a model calls tools where none is needed (bench/results/preference_tools.md): one
    warning at the first conversation offering tools; a single conversation answered in words, or too few
    conversations to judge, and there is none."""

    calling = [tool_row(i, f"Where is order A{i}?", {"order_id": f"A{i}"}) for i in range(1, 9)]
    found = [f for f in tool_data.findings(calling) if f.code == "always_calls"]
    assert [(f.line, f.severity) for f in found] == [(1, "warning")] and found[0].related == tuple(range(2, 9))
    assert found[0].message.startswith("all 8 conversations that offer tools start with a tool call")
    assert translate(found[0].message, "de").startswith("alle 8 Gespräche, die Werkzeuge anbieten")
    assert not [f for f in tool_data.findings(calling + [tool_row(9, "Hello there", None)]) if f.code == "always_calls"]
    assert not [f for f in tool_data.findings(calling[:7]) if f.code == "always_calls"]


def test_the_advice_for_data_that_always_calls_names_its_first_conversation_in_both_languages():
    from anchortune.quality.report import advice

    calling = [tool_row(i, f"Where is order A{i}?", {"order_id": f"A{i}"}) for i in range(1, 9)]
    tips = advice(tool_data.findings(calling), {}, "intent", 0.0, {}, {"sufficient": True}, 8)
    [tip] = [t for t in tips if "answered in words" in t]
    assert tip.endswith("starts with a call (the first at line 1)"), tip
    assert translate(tip, "de").endswith("beginnt mit einem Aufruf (das erste in Zeile 1)"), translate(tip, "de")
