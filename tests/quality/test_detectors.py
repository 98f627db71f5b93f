"""Every reason code of the quality gate, each on a small hand-made set over the clean demo data."""

from __future__ import annotations

import json

import pytest

from anchortune.data.demo_invoices import invoice_demo
from anchortune.data.demo_support import support_demo
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.quality.gate import check


def row(prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


def numbered(points: list[AnchorPoint]) -> list[AnchorPoint]:
    return [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points, start=1)]


def run(points, embedder, task="support", tokenizer=None, max_length=512, declared=None, description=None):
    preset = load_preset(task)
    points = numbered(points)
    report = check(points, preset.resolved_for(points), embedder, tokenizer, max_length,
                   declared_labels=declared, description=description)
    return report, len(points)


def codes_at(report, line: int) -> set[str]:
    return {f.code for f in report.findings if f.line == line and f.at_least("warning")}


@pytest.fixture(scope="module")
def clean():
    return support_demo()


def test_clean_demo_set_is_good_with_few_flags(clean, embedder):
    report, n = run(clean, embedder)
    assert report.verdict == "good"
    assert len(report.flagged_lines("warning")) <= 0.02 * n


def test_exact_duplicates_are_flagged_against_the_first(clean, embedder):
    report, n = run(clean + [clean[4]], embedder)
    [finding] = [f for f in report.findings if f.code == "exact_duplicate"]
    assert finding.line == n and finding.related == (5,)


def test_near_duplicates_are_flagged_but_rephrasings_are_not(clean, embedder):
    source = clean[10]
    near = row(source.prompt.replace("e", "a", 1), source.answer.replace("the", "teh", 1), source.label)
    report, n = run(clean + [near], embedder)
    assert "near_duplicate" in codes_at(report, n)
    # the demo gives one answer to several phrasings by design: those rewordings are reported at info level only
    assert not [f for f in report.findings if f.code == "near_duplicate" and f.line != n and f.at_least("warning")]


def test_contradictory_answers_are_flagged(clean, embedder):
    source = next(p for p in clean if p.label == "track_order")
    wrong = next(p for p in clean if p.label == "reset_password")
    report, n = run(clean + [row(source.prompt + " ", wrong.answer, wrong.label)], embedder)
    [finding] = [f for f in report.findings if f.code == "contradiction"]
    assert finding.line == n and finding.related == (source.line,)
    assert "reset_password" in finding.message


def test_conflicting_json_fields_for_one_document_are_a_contradiction(embedder):
    invoices = invoice_demo(60)
    source = invoices[7]
    fields = json.loads(source.answer)
    fields["total"] = "1.00"
    report, n = run(invoices + [row(source.prompt, json.dumps(fields))], embedder, task="invoice")
    assert "contradiction" in codes_at(report, n)
    assert "total" in next(f.message for f in report.findings if f.code == "contradiction")


def test_off_task_rows_are_flagged(clean, embedder):
    odd = row("Which enzyme unwinds the DNA double helix during replication?",
              "Helicase separates the two strands by breaking hydrogen bonds between base pairs.")
    report, n = run(clean + [odd], embedder)
    assert codes_at(report, n) == {"off_task"}


def test_a_set_that_does_not_match_its_description_loses_relevance(clean, embedder):
    fitting, _ = run(clean, embedder, description="Customer support for an online shop: orders, delivery, "
                                                   "returns, refunds, payment, warranty and account questions")
    unrelated, _ = run(clean, embedder, description="Legal analysis of employment contracts and labour law")
    assert fitting.scores["relevance"] > 90 and not any("description" in r for r in fitting.reasons)
    assert unrelated.scores["relevance"] <= 30
    assert any("do not match the task description" in r for r in unrelated.reasons)


def test_empty_garbled_and_cut_off_answers_are_unclear(clean, embedder):
    rows = [row("Where is my order BK-1?", ""), row("Can I return my kettle?", "xqzt vbnmk plokij wertyu qazwsx edcrfv"),
            row("How long does delivery take?", "Standard delivery takes 2-4 working days and is free from 50 euros. "
                                                "Express delivery arrives the next working day if you")]
    report, n = run(clean + rows, embedder)
    messages = {f.line: f.message for f in report.findings if f.code == "unclear_answer"}
    assert "empty" in messages[n - 2] and "garbled" in messages[n - 1] and "cut off" in messages[n]


def test_invalid_json_and_missing_fields_are_invalid_output(embedder):
    invoices = invoice_demo(40)
    broken = row(invoices[0].prompt, '{"company": "Kestrel IT Services", "total": ')
    partial = row(invoices[1].prompt, json.dumps({"company": "X"}))
    report, n = run(invoices + [broken, partial], embedder, task="invoice")
    severities = {f.line: f.severity for f in report.findings if f.code == "invalid_output"}
    assert severities == {n - 1: "error", n: "warning"}


def test_labels_outside_the_declared_set_are_invalid_output(embedder):
    rows = [row(f"text {i}", label, label) for i, label in enumerate(["yes", "no"] * 10 + ["maybe"])]
    report, n = run(rows, embedder, task="classification", declared=["yes", "no"])
    assert [f.line for f in report.findings if f.code == "invalid_output"] == [n]


def test_a_label_seen_once_that_looks_like_a_typo_is_flagged(embedder):
    rows = [row(f"card question {i}", lab, lab) for i, lab in enumerate(["card_arrival", "lost_card"] * 6)]
    rows.append(row("where is my new card", "card_arival", "card_arival"))
    report, n = run(rows, embedder, task="classification")
    [finding] = [f for f in report.findings if f.code == "invalid_output"]
    assert finding.line == n and "card_arrival" in finding.message


def test_examples_over_the_context_are_too_long(clean, embedder, tiny_tokenizer):
    long = row("Please read this carefully. " * 60, "Thanks, noted.")
    report, n = run(clean + [long], embedder, tokenizer=tiny_tokenizer, max_length=128)
    [finding] = [f for f in report.findings if f.code == "too_long" and f.line == n]
    assert finding.severity == "error" and report.token_lengths["limit"] == 128


@pytest.mark.parametrize("text", ["Write to jane.doe@example.org", "IBAN DE89 3704 0044 0532 0130 00",
                                  "card 4111 1111 1111 1111", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"])
def test_personal_data_and_secrets_are_flagged(clean, embedder, text):
    source = clean[3]
    report, _ = run(clean[:3] + [row(source.prompt, source.answer + " " + text)] + clean[4:], embedder)
    assert "personal_data" in codes_at(report, 4)


def test_placeholders_and_order_numbers_are_not_personal_data(clean, embedder):
    rows = [row("cancel order 113542617735902", "Call {{Customer Support Phone Number}} about order 113542617735902.")]
    report, n = run(clean + rows, embedder)
    assert "personal_data" not in codes_at(report, n)


def test_one_answer_for_unrelated_prompts_is_a_template_answer(clean, embedder):
    canned = "Thank you for contacting us. Our team will get back to you soon."
    rows = [row(p.prompt, canned, p.label) for p in clean[:8]]
    report, n = run(rows + clean[8:], embedder)
    assert {f.line for f in report.findings if f.code == "template_answer"} == set(range(1, 9))


def test_answer_in_another_language_is_a_language_mismatch(clean, embedder):
    german = row("How long does standard delivery take to my home address in Berlin?",
                 "Die Standardlieferung dauert zwei bis vier Werktage und ist ab fünfzig Euro kostenlos.")
    report, n = run(clean + [german], embedder)
    assert "language_mismatch" in codes_at(report, n)


def test_answers_not_conditioned_on_their_prompt_are_unclear(clean, embedder):
    points = numbered(clean[:20])
    preset = load_preset("support")
    scores = {5: 1.3, 9: 0.4}
    report = check(points, preset.resolved_for(points), embedder, None, 512,
                   ifd=lambda ps: [scores.get(p.line, 0.5) for p in ps])
    flagged = [f for f in report.findings if f.code == "unclear_answer"]
    assert [f.line for f in flagged] == [5] and "does not follow from its prompt" in flagged[0].message


def test_a_new_detector_is_one_module_and_one_declared_line(clean, embedder, monkeypatch):
    """A detector the gate did not know: its module (here put in place as anchortune.quality.shouting) and one line
    in quality/detectors.py's DETECTORS; the gate runs it and the report holds its findings."""
    import sys
    import types

    from anchortune.quality import detectors
    from anchortune.quality.findings import Finding

    module = types.ModuleType("anchortune.quality.shouting")
    module.find = lambda rows: [Finding(p.line, "shouting", "warning", "the answer is all capitals")
                                for p in rows.points if p.answer.isupper()]
    monkeypatch.setitem(sys.modules, "anchortune.quality.shouting", module)
    monkeypatch.setattr(detectors, "DETECTORS", detectors.DETECTORS + (
        detectors.Detector("shouting", "the answer shouts", "shouting.find", "clarity", on_rows=True),))
    points = clean[:40] + [row("Where is my parcel?", "IT LEFT OUR WAREHOUSE YESTERDAY AND ARRIVES ON MONDAY.")]
    report, n = run(points, embedder)
    shouted = [f for f in report.findings if f.code == "shouting"]
    assert [f.line for f in shouted] == [n]
