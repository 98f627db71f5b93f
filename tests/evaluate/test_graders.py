"""Graders as data: OpenAI's shapes and anchortune's task graders parse into graders that score a sample against a
row; a grader that does not parse names its field; the reward-hacking signs of a reinforcement run are found."""

from __future__ import annotations

import pytest

from anchortune.errors import ConfigError
from anchortune.evaluate import graders
from anchortune.evaluate.graders import GraderError, parse


def test_string_check_operations_and_templates_read_the_sample_and_the_item():
    item = {"reference_answer": "Refund", "meta": {"label": "refund"}}
    check = lambda op, ref="{{item.reference_answer}}": parse(  # noqa: E731
        {"type": "string_check", "name": "c", "input": "{{sample.output_text}}", "reference": ref, "operation": op})
    assert check("eq").score("Refund", item) == 1.0 and check("eq").score("refund", item) == 0.0
    assert check("ne").score("refund", item) == 1.0
    assert check("like").score("A Refund now", item) == 1.0 and check("like").score("a refund", item) == 0.0
    assert check("ilike", "{{item.meta.label}}").score("A REFUND now", item) == 1.0
    on_json = parse({"type": "string_check", "name": "j", "input": "{{sample.output_json.total}}",
                     "reference": "{{item.total}}", "operation": "eq"})
    assert on_json.score('Here: {"total": "9.50"}', {"total": "9.50"}) == 1.0
    assert on_json.score("no JSON at all", {"total": "9.50"}) == 0.0
    with pytest.raises(GraderError, match=r"\{\{item.total\}\} names a field the row does not have \(it has sum\)"):
        on_json.score('{"total": 1}', {"sum": 1})


def test_text_similarity_numeric_and_multi_score_as_documented():
    rouge = parse({"type": "text_similarity", "name": "r", "evaluation_metric": "rouge_l"})
    assert rouge.score("your parcel is on its way", {"reference_answer": "your parcel is on its way"}) == 1.0
    assert 0 < rouge.score("the parcel left", {"reference_answer": "your parcel is on its way"}) < 1
    bigrams = parse({"type": "text_similarity", "name": "r2", "evaluation_metric": "rouge_2"})
    assert bigrams.score("on its way", {"reference_answer": "it is on its way"}) == pytest.approx(2 / 3)  # P 1, R 1/2
    fuzzy = parse({"type": "text_similarity", "name": "f", "evaluation_metric": "fuzzy_match"})
    assert fuzzy.score("colour", {"reference_answer": "color"}) > 0.8
    numeric = parse({"type": "numeric", "name": "n"})
    assert numeric.score("48/2 = 24, so 48 + 24 = 72 clips.", {"reference_answer": "72"}) == 1.0
    assert numeric.score("The answer is 1,200.", {"reference_answer": "work...\n#### 1200"}) == 1.0
    assert numeric.score("#### 71 (not 72)", {"reference_answer": "72"}) == 0.0  # what follows #### counts
    assert numeric.score("no number", {"reference_answer": "72"}) == 0.0
    near = {"reference_answer": "3.1416"}
    assert parse({"type": "numeric", "name": "t", "tolerance": 0.01}).score("3.14", near) == 1.0
    assert parse({"type": "numeric", "name": "t", "tolerance": 0.001}).score("3.14", near) == 0.0
    multi = parse({"type": "multi", "name": "m", "calculate_output": "(2 * n + r) / 3",
                   "graders": {"n": {"type": "numeric", "name": "n"}, "r": {"type": "text_similarity", "name": "r",
                                                                         "evaluation_metric": "rouge_l"}}})
    assert multi.score("72", {"reference_answer": "72"}) == 1.0
    assert multi.score("73", {"reference_answer": "72"}) == 0.0


@pytest.mark.parametrize("spec, field, said", [
    ({"type": "regex"}, "grader.type", "expected one of string_check, text_similarity"),
    ({"type": "string_check", "operation": "contains"}, "grader.operation", "eq, ne, like, ilike"),
    ({"type": "text_similarity", "evaluation_metric": "bleu"}, "grader.evaluation_metric", "rouge_l"),
    ({"type": "string_check", "operation": "eq", "input": "{{sample.text}}"}, "grader.input", "output_text"),
    ({"type": "json_fields", "fields": "total"}, "grader.fields", "a list of names"),
    ({"type": "numeric", "tolerance": -1}, "grader.tolerance", ">= 0"),
    ({"type": "python", "source": "def grade(s, i):\n  return (\n"}, "grader.source", "line 2"),
    ({"type": "python", "source": "def score(s, i):\n  return 1\n"}, "grader.source", "grade(sample, item)"),
    ({"type": "multi", "graders": {}}, "grader.graders", "named graders"),
    ({"type": "multi", "calculate_output": "a ** 2", "graders": {"a": {"type": "numeric"}}},
     "grader.calculate_output", "BinOp"),
    ({"type": "multi", "calculate_output": "a + b", "graders": {"a": {"type": "numeric"}}},
     "grader.calculate_output", "uses b"),
    ({"type": "multi", "graders": {"a": {"type": "string_check", "operation": "is"}}},
     "grader.graders.a.operation", "eq, ne"),
    ("{not json", "grader", "not JSON"),
])
def test_a_grader_that_does_not_parse_names_its_field(spec, field, said):
    with pytest.raises(ConfigError) as refused:
        parse(spec)
    assert refused.value.param == field and said in str(refused.value)


def test_python_graders_are_refused_where_not_allowed_even_inside_a_multi_grader():
    inner = {"type": "python", "name": "p", "source": "def grade(sample, item):\n    return 1\n"}
    with pytest.raises(ConfigError, match="--python-graders") as refused:
        parse({"type": "multi", "name": "m", "graders": {"p": inner}}, allow_python=False)
    assert refused.value.param == "grader.graders.p.type"
    assert parse({"type": "multi", "name": "m", "graders": {"p": inner}}).uses_python


def test_reward_hacking_signs_are_found_and_named_in_the_verdict():
    from anchortune.evaluate import reinforcement

    base = {"rewards": [0.0, 0.5, 0.0, 0.5, 0.0, 0.5], "answers": [f"answer number {i}" for i in range(6)],
            "metric": 0.40}
    same = {"rewards": [1.0] * 6, "answers": ["total total total total total total"] * 6, "metric": 0.30}
    found = reinforcement.compare(base, same)
    assert {s["sign"] for s in found["signs"]} == {"collapse", "length", "metric"}
    verdict = reinforcement.decide(found, None)
    assert verdict["verdict"] == "no better than the base" and "the grader is being gamed" in verdict["reason"]
    honest = {"rewards": [1.0] * 6, "answers": [f"answer {i}" for i in range(6)], "metric": 0.6}
    assert reinforcement.decide(reinforcement.compare(base, honest), None)["verdict"] == "well tuned"
    assert reinforcement.decide(reinforcement.compare(base, base), None)["verdict"] == "no better than the base"
    assert reinforcement.decide(reinforcement.compare(base, honest), "general text +9%")["verdict"] == "forgetting"


def test_openai_reinforcement_rows_read_as_anchor_points_with_the_reference_as_answer(write_lines):
    from anchortune.data.loading import load_anchor_points

    path = write_lines("rft.jsonl", [{"messages": [{"role": "user", "content": "2 + 2?"}], "reference_answer": "4"}])
    point = load_anchor_points(path)[0]
    assert point.prompt == "2 + 2?" and point.answer == "4"


def test_final_number_reads_the_gsm8k_answer():
    assert graders.final_number("so 5 - 7 = -2") == -2.0 and graders.final_number("$1,234.50 total") == 1234.5
    assert graders.final_number("Step 1: 3\n#### 18") == 18.0 and graders.final_number("none") is None
