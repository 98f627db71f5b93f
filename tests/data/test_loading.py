"""Anchor-point import: every common shape loads; every malformed input names file, line and field."""

from __future__ import annotations

import pytest

from anchortune.data.loading import CsvColumns, load_anchor_points, read_prompts
from anchortune.errors import DataError


def problems_of(path, columns=None):
    with pytest.raises(DataError) as info:
        load_anchor_points(path, columns)
    return info.value.problems, str(info.value)


def test_chat_messages_load_with_label(write_lines):
    path = write_lines("chat.jsonl", [{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                                                    {"role": "assistant", "content": "A"}], "label": "x"}])
    [point] = load_anchor_points(path)
    assert point.prompt == "Q" and point.answer == "A" and point.label == "x" and point.line == 1


def test_prompt_completion_instruction_and_sharegpt_shapes_load(write_lines):
    assert load_anchor_points(write_lines("a.jsonl", [{"prompt": "P", "completion": "C"}]))[0].answer == "C"
    [alpaca] = load_anchor_points(write_lines("b.jsonl", [{"instruction": "Do", "input": "this", "output": "done"}]))
    assert alpaca.prompt == "Do\n\nthis" and alpaca.answer == "done"
    [share] = load_anchor_points(write_lines("c.jsonl", [{"conversations": [{"from": "human", "value": "hi"},
                                                                              {"from": "gpt", "value": "hello"}]}]))
    assert [m["role"] for m in share.messages] == ["user", "assistant"]


def test_json_object_answer_is_kept_as_json_text(write_lines):
    [point] = load_anchor_points(write_lines("inv.jsonl", [{"prompt": "doc", "completion": {"total": "9.00"}}]))
    assert point.answer == '{"total": "9.00"}'


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    problems, message = problems_of(path)
    assert "empty" in problems[0].message and str(path) in message


def test_invalid_json_line_names_its_line(write_lines):
    path = write_lines("bad.jsonl", ['{"prompt": "a", "completion": "b"}', '{"prompt": "a", "completion": }'], raw=True)
    problems, message = problems_of(path)
    assert [(p.line, p.field) for p in problems] == [(2, None)]
    assert "line 2" in message and "not valid JSON" in message


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n')
    points = load_anchor_points(path)
    assert [p.line for p in points] == [1, 2]


def test_non_utf8_bytes_name_line_and_byte(write_lines):
    path = write_lines("latin.jsonl", ['{"prompt": "ok", "completion": "ok"}', b'{"prompt": "caf\xe9", "completion": "x"}'],
                       raw=True)
    problems, message = problems_of(path)
    assert problems[0].line == 2 and "UTF-8" in problems[0].message and "0xe9" in message


def test_mixed_shapes_name_the_line_that_differs(write_lines):
    path = write_lines("mixed.jsonl", [{"prompt": "a", "completion": "b"},
                                       {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}])
    problems, _ = problems_of(path)
    assert problems[0].line == 2 and "shape 'messages' differs from 'prompt'" in problems[0].message


def test_non_string_values_name_line_and_field(write_lines):
    path = write_lines("types.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": 42, "completion": "b"},
                                       {"prompt": "a", "completion": None}])
    problems, message = problems_of(path)
    assert [(p.line, p.field) for p in problems] == [(2, "prompt"), (3, "completion")]
    assert "line 2, field 'prompt': expected a string, found a number" in message
    chat = write_lines("chat.jsonl", [{"messages": [{"role": "user", "content": ["x"]},
                                                    {"role": "assistant", "content": "y"}]}])
    problems, _ = problems_of(chat)
    assert [(p.line, p.field) for p in problems] == [(1, "messages[0].content")]


def test_conversation_without_assistant_answer_is_reported(write_lines):
    path = write_lines("noanswer.jsonl", [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}])
    problems, _ = problems_of(path)
    assert (problems[0].line, problems[0].field) == (1, "messages")
    assert "no assistant answer" in problems[0].message


def test_unknown_role_names_the_turn(write_lines):
    path = write_lines("role.jsonl", [{"conversations": [{"from": "robot", "value": "q"}]}])
    problems, _ = problems_of(path)
    assert problems[0].field == "conversations[0].from"


def test_all_problems_are_reported_together_and_nothing_is_returned(write_lines):
    lines = [{"prompt": "a", "completion": "b"}] + [{"prompt": i, "completion": "b"} for i in range(30)]
    problems, message = problems_of(write_lines("many.jsonl", lines))
    assert len(problems) == 30
    assert "... and 10 more problems" in message and "nothing was imported" in message


def test_csv_with_named_columns_and_label(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('question,reply,topic\n"Where, exactly?",Here,loc\nWhy?,Because,why\n', encoding="utf-8")
    points = load_anchor_points(path, CsvColumns(input="question", output="reply", label="topic"))
    assert [(p.prompt, p.answer, p.label, p.line) for p in points] == [("Where, exactly?", "Here", "loc", 2),
                                                                         ("Why?", "Because", "why", 3)]


@pytest.mark.parametrize("header,row", [
    ("Frage;Antwort;Kategorie", 'Wo ist meine Bestellung?;"Sie ist unterwegs; morgen da.";lieferung'),  # German export
    (" Question ,Answer,Intent", 'Wo ist meine Bestellung?,"Sie ist unterwegs; morgen da.",lieferung'),  # any case
])
def test_csv_columns_are_found_in_any_case_and_under_german_names(tmp_path, header, row):
    path = tmp_path / "daten.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    [point] = load_anchor_points(path)
    assert (point.prompt, point.answer, point.label) == ("Wo ist meine Bestellung?", "Sie ist unterwegs; morgen da.",
                                                         "lieferung")


def test_csv_missing_named_column_names_it_and_the_header(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("question,reply\nq,a\n", encoding="utf-8")
    problems, message = problems_of(path, CsvColumns(input="prompt_text", output="reply"))
    assert (problems[0].line, problems[0].field) == (1, "prompt_text")
    assert "--input-col" in message and "question, reply" in message


def test_csv_short_row_names_line_and_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("prompt,completion\nq,a\nonly-prompt\n", encoding="utf-8")
    problems, _ = problems_of(path)
    assert (problems[0].line, problems[0].field) == (3, "completion")


def test_prompts_file_for_generation(write_lines):
    path = write_lines("p.jsonl", [{"prompt": "hi"}, {"messages": [{"role": "user", "content": "yo"}]}])
    assert [p["messages"][-1]["content"] for p in read_prompts(path)] == ["hi", "yo"]
    with pytest.raises(DataError, match="line 1, field 'messages'"):
        read_prompts(write_lines("q.jsonl", [{"messages": [{"role": "user", "content": "q"},
                                                            {"role": "assistant", "content": "a"}]}]))


def test_real_bitext_file_loads_with_intents(shared_data):
    points = load_anchor_points(shared_data / "support" / "bitext_customer_support.jsonl")
    assert len(points) > 3000 and len({p.label for p in points}) == 27
