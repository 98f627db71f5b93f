"""The data readers' problems in German: every defect a file of anchor points, preference pairs, tool calls,
prompts or documents can have is named in German (the catalogue's copies of the readers' English, the d_* section),
the user's own text in it (keys, values, field names) as it is, and the English exactly as before."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jinja2 import TemplateError

from anchortune.app.datasets import CsvColumns, read_anchor_points, read_pairs
from anchortune.data.documents import read_corpus
from anchortune.data.loading import read_prompts
from anchortune.data.pair_tokens import render
from anchortune.data.pairs import PreferencePair
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.data.tokenize import encode
from anchortune.errors import DataError, DocumentError, Problem
from anchortune.messages import translate, untranslated

GOOD = {"prompt": "Where is my order?", "completion": "It ships today."}
USER = {"role": "user", "content": "Where is order A1?"}
TOOLS = [{"type": "function", "function": {"name": "lookup"}}]


def _jsonl(*rows) -> str:
    """JSON Lines: a dict or list as JSON, a str as it is (a line that is not JSON)."""
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def _calling(*turns, tools=TOOLS) -> str:
    """One tool-calling row: the user's question, then `turns`."""
    return _jsonl({"tools": tools, "messages": [USER, *turns]})


def _call(name="lookup", arguments='{"order_id": "A1"}', **more) -> dict:
    return {"role": "assistant", "tool_calls": [{"function": {"name": name, "arguments": arguments}, **more}]}


ANCHOR_POINT_FILES = {
    "not_json": _jsonl("{oops"),
    "not_an_object": _jsonl([1, 2]),
    "unknown_shape": _jsonl({"question_text": "a", "reply": "b"}),
    "unknown_shape_with_pairs": _jsonl({"chosen": "a", "rejected": "b", "note": 1}),
    "mixed_shapes": _jsonl(GOOD, {"messages": [USER, {"role": "assistant", "content": "b"}]}),
    "empty": "",
    "blank_lines_only": "\n\n",
    "wrong_types": _jsonl({"prompt": 1, "completion": None}, {"prompt": "a", "completion": [1]},
                          {"prompt": "a", "completion": "b", "label": 3.5}, {"instruction": "a"}),
    "empty_turns": _jsonl({"messages": []}, {"conversations": "hello"}),
    "bad_roles": _jsonl({"messages": [{"role": "bot", "content": "x"}]},
                        {"conversations": [{"from": "alien", "value": "x"}]}),
    "turn_not_an_object": _jsonl({"conversations": ["x"]}, {"messages": [USER, {"role": "assistant", "content": 5}]}),
    "assistant_first": _jsonl({"messages": [{"role": "assistant", "content": "a"}, USER,
                                            {"role": "assistant", "content": "c"}]}),
    "no_answer_no_user": _jsonl({"messages": [USER]}, {"messages": [{"role": "system", "content": "a"},
                                                                    {"role": "assistant", "content": "b"}]}),
    "lone_surrogate": '{"prompt": "a\\ud800b", "completion": "c"}\n{"prompt": "a", "completion": "b", '
                      '"label": "x\\udc00"}\n',
    "too_deep": '{"prompt": ' + "[" * 70 + "]" * 70 + ', "completion": "c"}\n',
    "too_many_digits": '{"prompt": ' + "9" * 4400 + ', "completion": "c"}\n',
    "invalid_utf8": b'{"prompt": "caf\xe9", "completion": "c"}\n',
    "too_long_line": '{"prompt": "' + "a" * (1 << 20) + '", "completion": "c"}\n',
}

TOOL_CALL_FILES = {
    "tools_not_a_list": _jsonl({"tools": {"name": "lookup"}, "messages": [USER]}, {"tools": None, "messages": [USER]}),
    "tool_not_a_function": _jsonl({"tools": [{"type": "retrieval"}], "messages": [USER]}),
    "tool_badly_named": _jsonl({"tools": [{"function": {"name": "look up"}}], "messages": [USER]}),
    "tool_offered_twice": _jsonl({"tools": TOOLS * 2, "messages": [USER]}),
    "tool_schema_not_an_object": _jsonl({"tools": [{"function": {"name": "f", "parameters": None}}]},
                                        {"tools": [{"function": {"name": "f", "parameters": ["x"]}}]}),
    "tool_description_not_text": _jsonl({"tools": [{"function": {"name": "f", "description": 3}}], "messages": []}),
    "tool_not_offered": _calling(_call("cancel")),
    "no_tools_offered": _jsonl({"messages": [USER, _call("cancel")]}),
    "arguments_not_json": _calling(_call(arguments="{order_id: A1")),
    "arguments_not_an_object": _calling(_call(arguments="[1]")) + _calling(_call(arguments=None)),
    "arguments_too_deep": _calling(_call(arguments="[" * 70 + "]" * 70)),
    "arguments_too_many_digits": _calling(_call(arguments='{"n": ' + "9" * 4400 + "}")),
    "calls_empty_or_not_objects": _calling({"role": "assistant", "tool_calls": []})
    + _calling({"role": "assistant", "tool_calls": ["lookup"]}),
    "assistant_says_nothing": _calling({"role": "assistant"}),
    "result_without_call": _calling({"role": "tool", "content": "shipped"}),
    "result_of_another_call": _calling(_call(id="c1"), {"role": "tool", "tool_call_id": "c2", "content": "x"},
                                       {"role": "assistant", "content": "ok"}),
    "bad_tool_turns": _jsonl({"tools": TOOLS, "messages": [{"role": "wizard", "content": "a"}]},
                             {"tools": TOOLS, "messages": ["x"]},
                             {"tools": TOOLS, "messages": [{"role": "tool", "content": "a"}]},
                             {"tools": TOOLS, "messages": [{"role": "assistant", "content": "a"}]}),
}

PAIR_FILES = {
    "mixed_pair_shapes": _jsonl({"prompt": "q", "chosen": "a", "rejected": "b"},
                                {"chosen": [USER, {"role": "assistant", "content": "a"}],
                                 "rejected": [USER, {"role": "assistant", "content": "b"}]}),
    "openai_input_not_an_object": _jsonl({"input": 3, "preferred_output": []}, {"preferred_output": []}),
    "implicit_sides_not_lists": _jsonl({"chosen": "a", "rejected": "b"}, {"chosen": None, "rejected": "b"}),
    "implicit_side_without_answer": _jsonl({"chosen": [USER], "rejected": [USER, {"role": "assistant",
                                                                                  "content": "b"}]}),
    "implicit_sides_differ": _jsonl({"chosen": [USER, {"role": "assistant", "content": "a"}],
                                     "rejected": [{"role": "user", "content": "other"},
                                                  {"role": "assistant", "content": "b"}]}),
    "implicit_side_ends_with_user": _jsonl({"chosen": [USER, {"role": "assistant", "content": "a"}, USER],
                                            "rejected": [USER, {"role": "assistant", "content": "a"}, USER]}),
    "prompt_ends_with_answer": _jsonl({"prompt": [USER, {"role": "assistant", "content": "x"}],
                                       "chosen": "a", "rejected": "b"}),
    "answers_of_wrong_form": _jsonl({"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}] * 2,
                                     "rejected": 5}, {"prompt": "q", "chosen": None, "rejected": "b"}),
    "answer_not_the_assistants": _jsonl({"prompt": "q", "chosen": [USER], "rejected": "b"},
                                        {"prompt": "q", "chosen": ["a"], "rejected": "b"},
                                        {"prompt": "q", "chosen": [None], "rejected": "b"}),
    "not_a_pair": _jsonl({"prompt": "q", "chosen": "a", "rejected": "b"}, {"question": "q"}),
    "prompt_with_lone_surrogate": '{"prompt": "q\\ud800", "chosen": "a", "rejected": "b"}\n',
    "pair_tools_not_a_list": _jsonl({"prompt": "q", "chosen": "a", "rejected": "b", "tools": "lookup"}),
    "empty_pairs": "",
}

CSV_FILES = {
    "empty.csv": ("", None),
    "bad_delimiter.csv": ("prompt,completion\na,b\n", CsvColumns(delimiter="ab")),
    "missing_columns.csv": ("foo;bar\n1;2\n", None),
    "column_not_in_header.csv": ("prompt,completion\na,b\n", CsvColumns(input="question", output="reply")),
    "ragged_rows.csv": ("prompt,completion\na,b,c,d\nx\n", None),
    "duplicate_header.csv": ("prompt,prompt,completion\na,b,c\n", None),
    "invalid_utf8.csv": (b"prompt,completion\ncaf\xe9,b\n", None),
    "unclosed_quote.csv": ('prompt,completion\n"' + ("a" * 1000 + "\n") * 1100, None),
}


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refused(read, *args, **kwargs) -> list[Problem]:
    with pytest.raises(DataError) as refused:
        read(*args, **kwargs)
    assert refused.value.problems
    return refused.value.problems


def _assert_german(problem: Problem) -> str:
    """The problem's German: its message translated (not left in English), the frame around it German, no catalogue
    English left anywhere; returned for a closer look."""
    english, german = str(problem), problem.describe("de")
    message = translate(problem.message, "de")
    assert message != problem.message, english
    assert german.endswith(message) and german != english, (english, german)
    assert not english.endswith(message), (english, german)
    assert untranslated(german) == [], (german, untranslated(german))
    return german


@pytest.mark.parametrize("name", sorted(ANCHOR_POINT_FILES) + sorted(TOOL_CALL_FILES))
def test_every_defect_of_an_anchor_point_or_tool_calling_file_is_named_in_german(tmp_path, name):
    path = _write(tmp_path / f"{name}.jsonl", {**ANCHOR_POINT_FILES, **TOOL_CALL_FILES}[name])
    for problem in _refused(read_anchor_points, path):
        _assert_german(problem)


@pytest.mark.parametrize("name", sorted(PAIR_FILES))
def test_every_defect_of_a_preference_pair_file_is_named_in_german(tmp_path, name):
    path = _write(tmp_path / f"{name}.jsonl", PAIR_FILES[name])
    for problem in _refused(read_pairs, path):
        _assert_german(problem)


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_every_defect_of_a_csv_file_is_named_in_german(tmp_path, name):
    content, columns = CSV_FILES[name]
    path = _write(tmp_path / name, content)
    for problem in _refused(read_anchor_points, path, columns):
        _assert_german(problem)


def test_paths_that_are_no_readable_file_and_options_for_csv_only_are_named_in_german(tmp_path):
    jsonl = _write(tmp_path / "points.jsonl", _jsonl(GOOD))
    for path, columns in ((tmp_path / "missing.jsonl", None), (tmp_path, None), (Path("/dev/null"), None),
                          (jsonl, CsvColumns(input="question"))):
        for problem in _refused(read_anchor_points, path, columns):
            _assert_german(problem)


def test_bad_prompts_for_generation_are_named_in_german(tmp_path):
    path = _write(tmp_path / "prompts.jsonl", _jsonl({"messages": [USER, {"role": "assistant", "content": "a"}]},
                                                     {"reply": "b"}, {"messages": [{"role": "x", "content": "a"}]}))
    assert len([_assert_german(problem) for problem in _refused(read_prompts, path)]) == 3


class _RefusingTemplate:
    """A tokenizer whose chat template refuses every conversation."""

    bos_token_id = bos_token = None

    def apply_chat_template(self, messages, **options):
        raise TemplateError("tools are not supported")


class _ShiftingTemplate(_RefusingTemplate):
    """A tokenizer whose chat template writes the prompt otherwise when an answer follows it."""

    def apply_chat_template(self, messages, add_generation_prompt=False, **options):
        return ("<ask>" if add_generation_prompt else "<said>") + str(len(messages))


def test_what_a_chat_template_refuses_is_named_in_german():
    preset = load_preset("custom")
    point = AnchorPoint((USER, {"role": "assistant", "content": "a"}), 3)
    pair = PreferencePair((USER,), {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}, 4)
    messages = []
    for make in (lambda: encode([point], preset, _RefusingTemplate(), 64),
                 lambda: render([pair], preset, _RefusingTemplate(), 64),
                 lambda: render([pair], preset, _ShiftingTemplate(), 64)):
        messages += [_assert_german(problem) for problem in _refused(make)]
    assert "die Chat-Vorlage des Modells lehnt dieses Gespräch ab (tools are not supported)" in messages[0]
    assert "lehnt dieses Paar ab" in messages[1] and "schreibt die Eingabe anders" in messages[2]


@pytest.mark.parametrize("message", [
    "cannot be read: Permission denied (on the file or a folder above it)",
    "cannot be read: Permission denied",
    "cannot be read from here on: Input/output error",
    "not readable as CSV (line contains NUL)",
    "nested too deeply to read",
    "the arguments cannot be read (maximum recursion depth exceeded)",
])
def test_problems_only_a_failing_disk_or_parser_causes_are_german_too(message):
    _assert_german(Problem("points.jsonl", 7, None, message))


def test_documents_that_cannot_be_read_are_named_in_german(tmp_path):
    (tmp_path / "notes.doc").write_text("a word document")
    (tmp_path / "none").mkdir()
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "a.txt").write_text("too short\n\nalso short\n\ntoo short\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "scan.pdf").write_bytes(b"not a pdf at all")
    expected = {"notes.doc": "kein Dokument, das anchortune liest", "missing.txt": "weder Datei noch Ordner",
                "none": "kein Dokument (.txt", "short": "kein brauchbarer Text in 1 Dokument: 0 Dokumente, "
                "0 Absätze behalten, 1 doppelte und 2 minderwertige Absätze verworfen; kein Text in a.txt",
                "broken": "kein lesbares PDF"}
    for name, german in expected.items():
        with pytest.raises(DocumentError) as refused:
            read_corpus([tmp_path / name])
        assert german in refused.value.describe("de"), refused.value.describe("de")
        assert untranslated(refused.value.describe("de")) == []
        assert refused.value.describe("en") == str(refused.value)


def test_the_english_of_a_problem_is_as_the_readers_write_it(tmp_path):
    shapes = _write(tmp_path / "shapes.jsonl", _jsonl({"reply": "b"}, {"prompt": 1, "completion": "b"}))
    assert [str(p) for p in _refused(read_anchor_points, shapes)] == [
        f"{shapes}, line 1: no known shape: expected 'messages', 'conversations', 'prompt'/'completion', "
        "'instruction'/'output' or 'text'/'label'; found keys ['reply']",
        f"{shapes}, line 2, field 'prompt': expected a string, found a number"]
    calls = _write(tmp_path / "calls.jsonl", TOOL_CALL_FILES["tool_not_offered"])
    assert [str(p) for p in _refused(read_anchor_points, calls)] == [
        f"{calls}, line 1, field 'messages[1].tool_calls[0].function.name': calls \"cancel\", which is not in tools "
        "(offered: lookup)"]
    empty = _write(tmp_path / "empty.csv", "")
    assert [str(p) for p in _refused(read_anchor_points, empty)] == [
        f"{empty}: the file is empty; expected a header line and one example per line"]


def test_the_german_keeps_the_users_keys_values_and_numbers(tmp_path):
    shapes = _write(tmp_path / "shapes.jsonl", _jsonl({"reply": "b"}, {"prompt": 1, "completion": "b"}))
    assert [p.describe("de") for p in _refused(read_anchor_points, shapes)] == [
        f"{shapes}, Zeile 1: keine bekannte Form: erwartet war „messages“, „conversations“, „prompt“/„completion“, "
        "„instruction“/„output“ oder „text“/„label“; gefunden wurden die Schlüssel ['reply']",
        f"{shapes}, Zeile 2, Feld „prompt“: erwartet war ein String, gefunden: eine Zahl"]
    long = _write(tmp_path / "long.jsonl", ANCHOR_POINT_FILES["too_long_line"])
    assert _refused(read_anchor_points, long)[0].describe("de") == (
        f"{long}, Zeile 1: die Zeile ist 1.048.610 Bytes lang; höchstens 1.048.576 Bytes (1 MiB) je Beispiel werden "
        "gelesen: kürzen oder aufteilen")


def test_validate_in_german_prints_every_problem_in_german(tmp_path, monkeypatch, capsys):
    from anchortune.cli import main as cli
    from anchortune.cli import stopping

    bad = _write(tmp_path / "bad.jsonl", _jsonl({"prompt": ["x"], "completion": "b"}, {"reply": "b"},
                                                {"messages": [{"role": "assistant", "content": "a"}, USER]}))
    monkeypatch.setenv("ANCHORTUNE_ALLOCATOR", "system")  # no re-exec of the test process with another allocator
    monkeypatch.setattr(stopping, "install", lambda: None)  # the signal watcher is a process's, not a test's
    monkeypatch.setattr(sys, "argv", ["anchortune", "--lang", "de", "validate", str(bad)])
    with pytest.raises(SystemExit) as exit:
        cli.main()
    out = capsys.readouterr().err
    assert exit.value.code == 2
    assert "3 Probleme in den Ankerpunkten; nichts wurde übernommen" in out
    assert "Zeile 1, Feld „prompt“: erwartet war ein String, gefunden: eine Liste" in out
    assert "Zeile 2: keine bekannte Form: erwartet war" in out
    assert "Zeile 3: die Form 'messages' weicht von der ab Zeile 1 verwendeten Form 'prompt' ab" in out
    assert "expected" not in out and "no known shape" not in out and "differs from" not in out
    assert untranslated(out) == [], untranslated(out)
