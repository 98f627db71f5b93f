"""Input that once crashed the importer or the commands after it: each ends in the project's own error naming the
file, line and field, and a bounded fuzz of seeded mutations of a valid file raises nothing else."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from anchortune.data.loading import CsvColumns, load_anchor_points, read_prompts
from anchortune.errors import AnchortuneError, DataError, RunError

VALID = [{"prompt": f"Where is my order {n}?", "completion": f"Order {n} left the warehouse today.",
          "label": "track_order"} for n in range(6)]


def problems(path, columns=None) -> list:
    with pytest.raises(DataError) as caught:
        load_anchor_points(path, columns)
    return caught.value.problems


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchortune", *args], capture_output=True, text=True, timeout=300)


def test_a_number_of_5000_digits_names_its_line_and_field(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(VALID[0]) + '\n{"prompt": "hi", "completion": "ok", "label": ' + "9" * 5000 + "}\n")
    [problem] = problems(path)
    assert (problem.line, problem.field) == (2, "label") and "4300 digits" in problem.message


def test_json_nested_100000_deep_is_refused_without_a_recursion_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"prompt": "hi", "completion": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    [problem] = problems(path)
    assert (problem.line, problem.field) == (1, "completion") and "nested 100001 levels deep" in problem.message
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": ' + "{" * 5000 + "}\n")
    with pytest.raises(DataError, match="levels deep"):
        read_prompts(prompts)


@pytest.mark.parametrize("row,field", [({"prompt": "hi", "completion": "broken \ud800 text"}, "completion"),
                                       ({"prompt": "hi \udfff", "completion": "ok"}, "prompt"),
                                       ({"prompt": "hi", "completion": {"total": "9\ud83d"}}, "completion"),
                                       ({"text": "hi", "label": "a\udc00"}, "label"),
                                       ({"messages": [{"role": "user", "content": "x\ud800"},
                                                      {"role": "assistant", "content": "y"}]},
                                        "messages[0].content")])
def test_a_lone_surrogate_is_refused_at_import_with_line_and_field(tmp_path, row, field):
    path = tmp_path / "surrogate.jsonl"
    path.write_text("\n" + json.dumps(row) + "\n")  # json.dumps writes the \\ud800 escape
    [problem] = problems(path)
    assert (problem.line, problem.field) == (2, field) and "lone surrogate" in problem.message


def test_check_reports_the_surrogate_instead_of_dying_in_the_tokenizer(tmp_path):
    path = tmp_path / "surrogate.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in VALID) + '{"prompt": "hi", "completion": "a \\ud800"}\n')
    for command in (["validate", str(path)], ["check", str(path), "--task", "support"]):
        result = run_cli(*command)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "line 7, field 'completion'" in result.stderr and "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_the_csv_delimiter_is_detected(tmp_path, delimiter):
    path = tmp_path / "sheet.csv"
    rows = [["prompt", "answer"], ["Wo ist mein Paket?", "Es ist unterwegs; morgen kommt es an."],
            ["Kann ich stornieren?", "Ja, bis zum Versand."]]
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    points = load_anchor_points(path)
    assert [(p.prompt, p.answer) for p in points] == [tuple(r) for r in rows[1:]]


def test_the_delimiter_option_overrides_the_guess(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text("prompt;answer\nWo ist mein Paket?;Es ist unterwegs.\n", encoding="utf-8")
    problem = problems(path, CsvColumns(delimiter=","))[0]
    assert "prompt;answer" in problem.message and "--delimiter" in problem.message
    result = run_cli("validate", str(path), "--delimiter", ";")
    assert result.returncode == 0 and "1 anchor points" in result.stdout
    with pytest.raises(DataError, match="delimiter"):
        load_anchor_points(path, CsvColumns(delimiter=";;"))


def test_eval_of_a_run_without_its_model_fails_before_any_generation(tmp_path, support_file, tiny_model_dir,
                                                                      monkeypatch):
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig
    from anchortune.evaluate import generation

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(RunConfig.build(data=str(support_file), task="support",
                                                     model=str(tiny_model_dir)).dump())

    def no_generation(*args, **kwargs):
        raise AssertionError("generation started before the inputs were checked")

    monkeypatch.setattr(generation, "generate", no_generation)
    with pytest.raises(RunError, match="no merged model"):
        app_runs.evaluate_run(run)
    result = run_cli("eval", str(run))
    assert result.returncode == RunError.exit_code and "no merged model" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run / "eval.json").exists()


def test_eval_checks_its_other_inputs_first(tmp_path, support_file, tiny_model_dir, monkeypatch):
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig
    from anchortune.evaluate import generation

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "model" / "tokenizer.json").write_text("{}")
    (run / "config.yaml").write_text(RunConfig.build(data=str(support_file), task="support",
                                                     model=str(tiny_model_dir)).dump())
    monkeypatch.setattr(generation, "generate", lambda *a, **k: pytest.fail("generation before input checks"))
    with pytest.raises(DataError, match="missing.txt: file not found"):
        app_runs.evaluate_run(run, general_text=tmp_path / "missing.txt")
    bad = tmp_path / "held_out.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(DataError, match="line 1"):
        app_runs.evaluate_run(run, data=bad)


MUTATIONS = ("flip", "cut", "insert", "duplicate", "nest", "digits", "surrogate", "control", "quote", "swap",
             "value", "value", "value")
VALUES = ["\\ud800", "\\udfff x", "\\u0000", "\\n\\n", "😀", "\u202e", "\u200b", "Größe", "x" * 20_000, "\\\"",
          "<script>", "{{Order Number}}", "\\ud83d\\ude00", "\\t", "١٢٣"]
INSERTS = ['"', "\\", "{", "}", "[", "]", ",", ":", "\\ud800", "\\u0000", "\x00", "\ufeff", "\u2028", "\r", "\n",
           "null", "1e999", "-0", "NaN", "true", '"label": []', '"messages": {}', "\xff"]


def mutate(original: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(MUTATIONS)
    data = bytearray(original)
    at = rng.randrange(len(data))
    if kind == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif kind == "cut":
        del data[at:at + rng.randrange(1, 40)]
    elif kind == "insert":
        data[at:at] = rng.choice(INSERTS).encode("utf-8", "surrogatepass")
    elif kind == "duplicate":
        data[at:at] = data[at:at + rng.randrange(1, 80)]
    elif kind == "nest":
        depth = rng.choice([5, 70, 5000])
        data[at:at] = (b"[" * depth + b"]" * depth)
    elif kind == "digits":
        data[at:at] = b"9" * rng.choice([10, 4301, 6000])
    elif kind == "surrogate":
        data[at:at] = rng.choice([b"\\ud800", b"\\udfff", b"\\ud83d\\u0041"])
    elif kind == "control":
        data[at:at] = bytes([rng.randrange(0, 32)])
    elif kind == "value":  # inside a string value: what a reader still accepts must stay text
        starts = [i + 3 for i in range(len(data) - 3) if data[i:i + 3] == b': "']
        at = rng.choice(starts) if starts else at
        data[at:at] = rng.choice(VALUES).encode("utf-8")
    elif kind == "quote":
        data[at:at] = b'"'
    else:
        other = rng.randrange(len(data))
        data[at], data[other] = data[other], data[at]
    return bytes(data)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_seeded_mutations_of_a_valid_file_end_in_the_projects_error_or_in_readable_text(tmp_path, suffix):
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in VALID)
        text += json.dumps({"prompt": "Größe?", "completion": {"size": "M — passt."}, "label": "size"},
                           ensure_ascii=False) + "\n"
    else:
        text = "prompt,answer,label\n" + "".join(f'"{r["prompt"]}","{r["completion"]}",track_order\n' for r in VALID)
    rng = random.Random(23)
    outcomes = {"refused": 0, "read": 0}
    for case in range(300):
        data = text.encode("utf-8")
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        path = tmp_path / f"case{case}{suffix}"
        path.write_bytes(data)
        try:
            points = load_anchor_points(path)
        except AnchortuneError as exc:
            assert str(exc) and all(p.file == str(path) for p in getattr(exc, "problems", [])), exc
            outcomes["refused"] += 1
            continue
        for point in points:  # what was read is text a tokenizer takes
            for message in point.messages:
                message["content"].encode("utf-8")
            assert point.line >= 1
        outcomes["read"] += 1
    assert outcomes["refused"] > 20 and outcomes["read"] > 20, outcomes  # both ways out were taken


@pytest.mark.parametrize("line,expected", [("null", "found null"), ("[1, 2]", "found a list"),
                                           ('"text"', "found a string"), ("12", "found a number")])
def test_a_line_that_is_json_but_no_object_is_named_not_skipped(tmp_path, line, expected):
    path = tmp_path / "values.jsonl"
    path.write_text(json.dumps(VALID[0]) + "\n" + line + "\n")
    [problem] = problems(path)
    assert problem.line == 2 and expected in problem.message


def test_json_line_reads_any_value_and_names_what_it_cannot():
    from anchortune.data import json_line

    assert json_line.parse("null") == (None, None)  # a readable null is a value, not a failure
    assert json_line.parse('{"a": [1, {"b": 2}]}') == ({"a": [1, {"b": 2}]}, None)
    assert json_line.nesting('{"a": "[[[[", "b": [[1]]}') == 3  # brackets inside strings do not count
    value, (field, message) = json_line.parse('{"x": 1, "deep": ' + "[" * 70 + "]" * 70 + "}")
    assert value is None and field == "deep" and "71 levels" in message  # the outer object is a level too
    assert json_line.text_problem("fine ✓") is None and "lone surrogate" in json_line.text_problem("a\ud800")
