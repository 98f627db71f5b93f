"""The gate's reasons hold on variants it was not tuned on: surface variants are duplicates, keyboard mash is
garbled whatever its case or repetition, an answer of another intent under a repeated question is a contradiction
without labels, and a shop's published contact data is not a person's."""

from __future__ import annotations

import json

import pytest

from anchortune.data.demo_invoices import invoice_demo
from anchortune.data.demo_support import support_demo
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.quality.gate import check
from anchortune.quality.pii import find_matches, owner
from anchortune.quality.text import CharModel, normalise


def row(prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


def run(points, embedder, task="support", judge=None):
    points = [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points, start=1)]
    preset = load_preset(task)
    return check(points, preset.resolved_for(points), embedder, None, 512, judge=judge), len(points)


def codes_at(report, line: int) -> set[str]:
    return {f.code for f in report.findings if f.line == line and f.at_least("warning")}


@pytest.fixture(scope="module")
def unlabelled():
    return [AnchorPoint(p.messages, p.line) for p in support_demo()]


@pytest.fixture(scope="module")
def judge():
    from anchortune.quality.embeddings import load_judge

    return load_judge()


@pytest.mark.parametrize("variant", [str.upper, str.swapcase,
                                     lambda t: t.replace(" ", "\u00a0", 2) + "  ",
                                     lambda t: t.rstrip(".?!") + "!",
                                     lambda t: "".join(chr(ord(c) + 0xFEE0) if c in "aeo" else c for c in t)
                                     .replace("'", "\u2019")])
def test_case_spacing_punctuation_and_unicode_forms_are_the_same_text(variant):
    text = "I can't find my order, can you check it?"
    assert normalise(variant(text)) == normalise(text)


def test_a_copy_in_full_width_letters_and_another_case_is_an_exact_duplicate(unlabelled, embedder):
    source = unlabelled[12]
    copy = row(source.prompt.upper(), "".join(chr(ord(c) + 0xFEE0) if c in "st" else c for c in source.answer))
    report, n = run(unlabelled + [copy], embedder)
    assert "exact_duplicate" in codes_at(report, n)
    assert "unclear_answer" not in codes_at(report, n)  # another case or letter form is not garbled


def test_keyboard_mash_repeated_over_rows_is_garbled_not_off_task(unlabelled, embedder):
    mash = ["asdf qwer zxcv uiop", "qwer asdf hjkl zxcv", "zxcv uiop asdf qwer", "hjkl qwer asdf vbnm"]
    rows = [row(unlabelled[k].prompt, m) for k, m in enumerate(mash)]
    report, n = run(unlabelled + rows + [row(unlabelled[9].prompt, "}}}}{{{{####")], embedder)
    for line in range(len(unlabelled) + 1, n + 1):
        assert codes_at(report, line) == {"unclear_answer"}, line


def test_upper_case_answers_are_not_garbled(unlabelled, embedder):
    shouted = [row(p.prompt, p.answer.upper()) for p in unlabelled[:5]]
    report, n = run(unlabelled + shouted, embedder)
    assert not any("unclear_answer" in codes_at(report, line) for line in range(len(unlabelled) + 1, n + 1))


def test_character_model_scores_mash_far_below_the_data_it_learned():
    texts = [p.answer for p in support_demo()]
    model = CharModel(texts)
    usual = sorted(model.score(t) for t in texts)[len(texts) // 4]
    assert model.score("sdfg hjkl xcvb qwrt") < usual - 0.8
    assert model.score("THANK YOU FOR YOUR ORDER") > usual - 0.5
    assert model.score("ok 12") is None  # too few letters to say


def test_another_intents_answer_under_a_repeated_question_is_a_contradiction_without_labels(unlabelled, embedder,
                                                                                           judge):
    track = next(p for p in support_demo() if p.label == "track_order")
    reset = next(p for p in support_demo() if p.label == "reset_password")
    asked_again = row(track.prompt.upper().rstrip("?") + "?", reset.answer)
    report, n = run(unlabelled + [asked_again], embedder, judge=judge)
    [finding] = [f for f in report.findings if f.code == "contradiction"]
    assert {finding.line, *finding.related} == {n, track.line}
    assert "means something else" in finding.message


def test_a_rephrased_answer_to_a_repeated_question_is_not_a_contradiction(unlabelled, embedder, judge):
    track = next(p for p in support_demo() if p.label == "track_order")
    again = row(track.prompt.lower(), "You can follow your order under Orders in your account: open it and the "
                                      "tracking link shows where the parcel is.")
    report, n = run(unlabelled + [again], embedder, judge=judge)
    assert "contradiction" not in codes_at(report, n)


RECEIPT = ("QUICK MART SDN BHD\n(123456-A)\nNO 5, JALAN MAJU,\n50000 KUALA LUMPUR\nTEL: 03-2145 8890\n"
           "EMAIL: ivan_kong12@example.com\nRECEIPT\n{date}\nCASHIER: ALI\nBREAD\n1\n3.50\nMILK\n2\n7.80\nTOTAL\n"
           "11.30\nCASH\n20.00\nCHANGE\n8.70\nTHANK YOU\nPLEASE COME AGAIN")


def test_a_shops_phone_and_email_in_its_receipt_header_are_its_own_published_data():
    text = RECEIPT.format(date="01/02/2018")
    for match in find_matches(text):
        whose, why = owner(text, match, repeated=1)
        assert whose == "organisation", (match, why)


def test_a_customers_email_on_a_receipt_is_a_persons():
    text = RECEIPT.format(date="01/02/2018") + "\nCUSTOMER: maria.santos@example.org"
    person = [m for m in find_matches(text) if m.value.startswith("maria")]
    assert owner(text, person[0], repeated=1)[0] == "person"


@pytest.mark.parametrize("text,whose", [
    ("Please write to anna.meyer@example.com for details.", "person"),
    ("Questions? Mail info@shop.example.com any time.", "organisation"),
    ("My IBAN is DE89 3704 0044 0532 0130 00.", "person"),
    ("CUSTOMER SERVICE HOTLINE : 03-2726-5600", "organisation"),
    ("Paid with card 4111 1111 1111 1111", "person"),
])
def test_whose_data_a_value_is(text, whose):
    [match] = find_matches(text)
    assert owner(text, match, repeated=1)[0] == whose


def test_receipts_report_the_shops_data_at_info_and_a_customers_as_a_warning(embedder):
    receipts = invoice_demo(40)
    with_shop = [row(RECEIPT.format(date=f"{d:02d}/03/2018"), json.dumps(
        {"company": "QUICK MART SDN BHD", "date": f"{d:02d}/03/2018", "address": "NO 5, JALAN MAJU, 50000 KUALA LUMPUR",
         "total": "11.30"})) for d in range(1, 6)]
    customer = row(with_shop[0].prompt + "\nCUSTOMER: refund to my account DE89370400440532013000",
                   with_shop[0].answer.replace("01/03", "09/03"))
    report, n = run(receipts + with_shop + [customer], embedder, task="invoice")
    shop_lines = range(len(receipts) + 1, len(receipts) + len(with_shop) + 1)
    for line in shop_lines:
        [finding] = [f for f in report.findings if f.line == line and f.code == "personal_data"]
        assert finding.severity == "info" and "organisation" in finding.message
    [warning] = [f for f in report.findings if f.line == n and f.code == "personal_data"]
    assert warning.severity == "warning" and "person's IBAN" in warning.message


def test_the_judge_embeds_a_bounded_number_of_rows_and_the_rest_fall_back(unlabelled, embedder, judge, monkeypatch):
    from anchortune.quality import duplicates

    demo = support_demo()
    track = next(p for p in demo if p.label == "track_order")
    others = [p for p in demo if p.label not in (None, "track_order")][:3]
    asked_again = [row(track.prompt.upper() + suffix, other.answer) for suffix, other in zip(("", "!", "?"), others)]
    seen = []

    class Counting:
        def embed(self, texts):
            seen.append(len(texts))
            return judge.embed(texts)

    monkeypatch.setattr(duplicates, "JUDGED_ROWS", 2)
    report, _ = run(unlabelled + asked_again, embedder, judge=Counting())
    assert seen and max(seen) <= 2 + 1 + duplicates.NULL_ROWS  # one pair (2 rows, a third at most) and the sample
    assert report.findings is not None
