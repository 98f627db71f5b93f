"""The gate judges meaning: a fact changed in an otherwise equal answer is a contradiction that names both lines and
the words that differ (and --fix sets both rows aside), the same request in other words with the same answer is a
near duplicate, a neighbouring domain's rows are off task, a short answer in another language is a language
mismatch (not off task), and a shop's own mobile number in its receipt header is the shop's."""

from __future__ import annotations

import random
from html import unescape

import numpy as np
import pytest

from anchortune import settings
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import load_anchor_points
from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.quality import facts
from anchortune.quality.fix import plan_fix
from anchortune.quality.gate import check
from anchortune.quality.html import render
from anchortune.quality.pii import find_matches, owner


def row(prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


def run(points, embedder, judge=None, task="support"):
    points = [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points, start=1)]
    preset = load_preset(task)
    return check(points, preset.resolved_for(points), embedder, None, 512, judge=judge), points


def at(report, line: int, severity: str = "warning") -> list:
    return [f for f in report.findings if f.line == line and f.at_least(severity)]


@pytest.fixture(scope="module")
def judge():
    from anchortune.quality.embeddings import load_judge

    return load_judge()


@pytest.fixture(scope="module")
def bitext() -> list[AnchorPoint]:
    """400 Bitext rows without labels: answers written one by one, so two rows rarely share one."""
    path = settings.shared_data() / "support" / "bitext_customer_support.jsonl"
    if not path.is_file():
        pytest.skip(f"shared data not found: {path} (the third-party datasets beside the project)")
    points = load_anchor_points(path)
    picked = random.Random(0).sample(points, 400)
    return [AnchorPoint(p.messages, 0) for p in picked]


@pytest.mark.parametrize("ours,theirs,kind,spans", [
    ("You can return any item within 30 days of delivery.", "You can return any item within 14 days of delivery.",
     "number", ("30 days", "14 days")),
    ("We are waiting for your refund of $309.", "We are waiting for your refund of $299.", "number", ("309", "299")),
    ("Shipping is free for orders over $50.", "Shipping is not free for orders over $50.", "negation", ("is free", "not free")),
    ("Yes, we deliver to Canada.", "No, we deliver to Canada.", "opposite", ("Yes", "No")),
    ("We offer gift wrapping at checkout.", "We do not offer gift wrapping at checkout.", "negation", ("We offer", "not offer")),
])
def test_a_changed_fact_is_found_with_the_words_that_differ(ours, theirs, kind, spans):
    [conflict] = facts.conflicts(ours, theirs)
    assert conflict.kind == kind
    assert spans[0] in conflict.ours and spans[1] in conflict.theirs


@pytest.mark.parametrize("ours,theirs,questions", [
    ("I'd be happy to help you cancel your order.", "I'm glad to assist you in cancelling your purchase.", ()),
    ("Open order BK-14126 and click Cancel.", "Open order BK-15562 and click Cancel.", ()),  # identifiers
    ("Steps:\n1. Log in.\n2. Open Orders.", "Steps:\n1. Log in and open Orders.", ()),  # list numbering
    ("Order 4411 ships today.", "Order 9876 ships today.", ("Where is order 4411?", "Where is order 9876?")),
    ("Please don't hesitate to contact us.", "Please do not hesitate to contact us.", ()),
    ("Our team is here to help.", "Our team is here 24/7 to help.", ()),  # a number added, not changed
])
def test_a_rewording_identifiers_numbering_and_the_questions_own_numbers_are_no_conflict(ours, theirs, questions):
    assert facts.conflicts(ours, theirs, questions or ("", "")) == []


def test_a_template_filled_for_another_request_follows_its_question_but_swapped_stock_words_do_not():
    from anchortune.quality.duplicates import STOCK_SHARE, stock_words

    kettle = ("Yes, the kettle is in stock and ships within two days.", "Is the kettle in stock?")
    toaster = ("Yes, the toaster is in stock and ships within two days.", "Is the toaster in stock?")
    stock = frozenset({"assistance", "support", "help"})
    assert facts.follow_questions(kettle[0], toaster[0], kettle[1], toaster[1], stock)
    # a rewording swaps the data's stock words in the question and the answer alike: still one example twice
    ours = ("I understand you no longer use your account and require support with cancelling it.",
            "I no longer use my account and I'm looking for a hand closing it")
    theirs = ("I understand you no longer use your account and require assistance with cancelling it.",
              "I no longer use my account and need assistance closing it")
    assert facts.follow_questions(ours[0], theirs[0], ours[1], theirs[1])
    assert not facts.follow_questions(ours[0], theirs[0], ours[1], theirs[1], stock)
    # the stock words are the words of more than a quarter of the answers
    points = [row(f"question {i}", f"Our team is glad to offer assistance with item {word}.")
              for i, word in enumerate(["kettle", "toaster", "blender", "mixer", "grill", "fryer"])]
    words = stock_words(points)
    assert {"assistance", "team", "glad"} <= words and not words & {"kettle", "toaster"}, (words, STOCK_SHARE)


def test_a_changed_fact_is_a_contradiction_naming_both_lines_and_spans_and_fix_sets_both_aside(embedder):
    demo = [AnchorPoint(p.messages, p.line) for p in support_demo()]
    source = next(p for p in demo if "within 30 days" in p.answer)
    flipped = row(source.prompt, source.answer.replace("within 30 days", "within 14 days"))
    report, points = run(demo + [flipped], embedder)
    n, original = len(points), demo.index(source) + 1
    [finding] = [f for f in at(report, n) if f.code == "contradiction" and f.related == (original,)]
    assert f"line {n}: '" in finding.message and f"line {original}: '" in finding.message
    assert "14 days" in finding.message and "30 days" in finding.message
    assert "near_duplicate" not in {f.code for f in at(report, n)}  # never "keep one" for a conflict
    page = unescape(render(report, points, "support.jsonl"))
    assert "within 14 days" in page and f"line {original}:" in page
    plan = plan_fix(points, report.findings)
    assert {p.line for p in plan.review} >= {n, original}
    assert not {n, original} & {p.line for p in plan.kept}


@pytest.mark.shared_data
def test_the_same_request_in_other_words_with_the_same_answer_is_a_near_duplicate(bitext, embedder, judge):
    source = next(p for p in bitext if p.prompt.lower().startswith(("i want to cancel", "i need to cancel", "cancel")))
    reworded = row("I would like to call off a purchase I made, what should I do?", source.answer)
    report, points = run(bitext + [reworded], embedder, judge)
    [finding] = [f for f in at(report, len(points)) if f.code == "near_duplicate"]
    assert finding.related == (bitext.index(source) + 1,)
    assert "in other words" in finding.message
    # the clean rows stay unflagged as duplicates of each other
    assert not [f for f in report.findings if f.code == "near_duplicate" and f.at_least("warning")
                and f.line != len(points)]


TELECOM = [
    ("My SIM card is locked and asks for a PUK code", "Your PUK code is printed on the plastic card your SIM came "
     "in. Enter it carefully: after ten wrong tries the SIM is blocked for good and you will need a replacement."),
    ("How do I turn on roaming before my trip?", "Roaming is switched on in the app under Tariff > Roaming. Calls "
     "and mobile data within the EU cost the same as at home; outside the EU the roaming rates of your tariff apply."),
    ("my broadband drops every evening", "Evening dropouts on broadband are often caused by Wi-Fi interference. "
     "Restart the router, connect it by cable and run the line test in the app; if the line test fails, we book an "
     "engineer visit."),
    ("Can I keep my number when I switch to you?", "Yes: ask your current provider for a porting code and enter it "
     "when you order your SIM. The number moves within one working day and your old contract ends on that day."),
    ("why is my phone bill higher this month", "Your bill shows extra mobile data bought after your allowance ran out "
     "and calls to premium numbers. You can set a spending cap in the app under Tariff > Limits."),
    ("how much data is left on my tariff", "Dial *100# or open the app: the home screen shows the mobile data left "
     "in your tariff this month and the day your allowance renews."),
]


@pytest.mark.shared_data
def test_rows_of_a_neighbouring_domain_are_off_task_and_clean_rows_are_not(bitext, embedder, judge):
    rows = [row(q, a) for q, a in TELECOM * 2]  # 12 rows, 3 %, a coherent minority (each question asked twice)
    report, points = run(bitext + rows, embedder, judge)
    telecom = range(len(bitext) + 1, len(points) + 1)
    found = {line for line in telecom if any(f.code == "off_task" for f in at(report, line))}
    assert len(found) >= 10, found
    copies = {line + len(TELECOM) for line in found if line < len(bitext) + 1 + len(TELECOM)}
    assert copies <= found, copies - found  # a copy of an off-task row is off task too, not only a duplicate
    wrong = [f for f in report.findings if f.code == "off_task" and f.line <= len(bitext)]
    assert len(wrong) <= 4, [f.message for f in wrong]  # 1 % of the clean rows at most
    # the rule for a neighbouring domain's rows alone (words no other row uses, confirmed by the judge's meaning)
    from anchortune.quality.neighbors import centered
    from anchortune.quality.relevance import foreign_rows

    alone = foreign_rows(points, centered(embedder.embed([p.answer for p in points])), None, judge)
    assert len({f.line for f in alone} & set(telecom)) >= 8
    assert len([f for f in alone if f.line <= len(bitext)]) <= 4
    assert any("'roaming'" in f.message or "'sim'" in f.message for f in alone)
    from anchortune.messages.catalogue import translate, untranslated

    for f in alone + [f for f in report.findings if f.code == "off_task"]:  # every reason said in German too
        german = translate(f.message, "de")
        assert german.startswith("aufgabenfremd: ") and " nearest " not in german, german
        assert not untranslated(german), german


def test_a_copy_of_an_off_task_row_is_off_task_naming_the_row_it_copies():
    from anchortune.messages.catalogue import translate, untranslated
    from anchortune.quality.findings import Finding
    from anchortune.quality.relevance import copies_of_off_task

    off = [Finding(7, "off_task", "warning", "off task: far from the rest of the anchor points (score 9.0, fence 7.0)")]
    copies = [Finding(12, "near_duplicate", "warning", "near duplicate of line 7", (7,)),
              Finding(13, "exact_duplicate", "warning", "same prompt and answer as line 7", (7,)),
              Finding(14, "near_duplicate", "warning", "near duplicate of line 3", (3,)),  # a copy of an on-task row
              Finding(7, "near_duplicate", "warning", "near duplicate of line 2", (2,))]  # already off task itself
    found = copies_of_off_task(copies, off)
    assert [(f.line, f.code, f.related) for f in found] == [(12, "off_task", (7,)), (13, "off_task", (7,))]
    assert found[0].message == "off task: a copy of line 7, which is off task"
    german = translate(found[0].message, "de")
    assert german == "aufgabenfremd: eine Kopie von Zeile 7, die aufgabenfremd ist" and not untranslated(german)


def test_a_short_answer_in_another_language_is_a_language_mismatch_not_off_task(embedder):
    from anchortune.messages.catalogue import translate

    demo = [AnchorPoint(p.messages, p.line) for p in support_demo()]
    answers = ["Gerne, Ihr Paket kommt morgen bei Ihnen an.", "Claro, puede devolver el producto sin coste.",
               "Bien sûr, votre commande est déjà en route."]
    extra = [row(demo[k].prompt, answer) for k, answer in zip((3, 20, 41), answers)]
    report, points = run(demo + extra, embedder)
    for line in range(len(demo) + 1, len(points) + 1):
        codes = {f.code for f in at(report, line)}
        assert "language_mismatch" in codes and "off_task" not in codes, (line, codes)
    assert not [f for f in report.findings if f.code == "language_mismatch" and f.line <= len(demo)]
    said = {f.line: f.message for f in report.findings if f.code == "language_mismatch"}
    assert said[len(demo) + 2] == "the questions here are in English but the answer in Spanish", said  # no codes
    assert translate(said[len(demo) + 2], "de") == "die Fragen hier sind auf Englisch, die Antwort aber auf Spanisch"
    assert translate(said[len(demo) + 1], "de") == "die Eingabe ist auf Englisch, die Antwort aber auf Deutsch"


RECEIPT = ("KEDAI MAJU ENTERPRISE\n(001234567-X)\nNO 8, JALAN PASAR 2,\nMOBILE /WHATSAPP : 012-345 6789\n"
           "TEL: +603-2201 4455\n43000 KAJANG\nCASH RECEIPT\nNO: 0081\nDATE: 03/04/2018\nCASHIER: AMIN\nITEM\nQTY\n"
           "AMOUNT\nGLUE\n1\n4.50\nTAPE\n2\n6.00\nSUBTOTAL\n10.50\nROUNDING\n0.00\nTOTAL\n10.50\nCASH\n20.00\n"
           "CHANGE\n9.50\nH/P: 012-345 6789\nTHANK YOU\nPLEASE COME AGAIN\nGOODS SOLD ARE NOT RETURNABLE")


def test_a_shops_mobile_in_its_header_is_its_own_and_a_customers_is_a_persons():
    text = RECEIPT + "\nCUST : TAN MEI LING (016-778 2211)"
    matches = find_matches(text)
    header = next(m for m in matches if m.value.startswith("012"))
    assert owner(text, header, repeated=1)[0] == "organisation"
    customer = next(m for m in matches if m.value.startswith("016"))
    assert owner(text, customer, repeated=1)[0] == "person"
    assert not any("\n" in m.value for m in matches)  # a number never runs across lines


def test_the_shops_number_repeated_below_its_header_is_not_a_persons(embedder):
    from anchortune.data.demo_invoices import invoice_demo

    receipts = invoice_demo(40) + [row(RECEIPT, '{"company": "KEDAI MAJU ENTERPRISE", "date": "03/04/2018", '
                                                '"address": "NO 8, JALAN PASAR 2, 43000 KAJANG", "total": "10.50"}')]
    report, points = run(receipts, embedder, task="invoice")
    assert not [f for f in report.findings if f.code == "personal_data" and f.line == len(points)
                and f.at_least("warning")]


class _VectorJudge:
    """A judge whose contextual vector of a row is given: the row's question names it."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        v = np.array([self.vectors[t.split("\n")[0]] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _minority_data(common: int, minority: int, rng: np.random.Generator):
    """`common` rows around one centre, then `minority` rows drawn tight around a point beside it: as near the centre
    as a common row's own neighbours (no outlier by distance), but nearer one another than anything else."""
    dim = 48
    centre, side = np.eye(dim)[0], np.eye(dim)[1]
    vectors = {f"q{i}": centre + rng.normal(0, 0.12, dim) for i in range(common)}
    vectors |= {f"m{i}": centre + 0.45 * side + rng.normal(0, 0.10, dim) for i in range(minority)}
    points = [AnchorPoint(({"role": "user", "content": q}, {"role": "assistant", "content": "a"}), k + 1)
              for k, q in enumerate(vectors)]
    return points, _VectorJudge(vectors), list(range(common, common + minority))


@pytest.mark.parametrize("common,real_candidates", [(300, 10), (2400, 150)])
def test_a_coherent_minority_is_confirmed_and_real_rows_among_many_candidates_are_not(common, real_candidates):
    from anchortune.quality.relevance import _unlike_by_meaning

    points, judge, minority = _minority_data(common, 25, np.random.default_rng(0))
    real = list(range(real_candidates))  # common rows the cheap pass picked for their rare words
    found = _unlike_by_meaning(points, minority + real, judge)
    assert sum(i in found for i in minority) >= 13
    # on large data the reference sample is sparse beside 175 candidates: unweighted, 71 real rows vouched for one
    # another; each reference row counted for the rows it stands for, a few at most
    assert sum(i in found for i in real) <= 0.05 * real_candidates
    assert all("resemble one another" in found[i] for i in minority if i in found)


def test_a_contact_line_under_a_persons_line_is_theirs_and_a_web_address_names_nobody():
    body = RECEIPT.replace("CHANGE\n9.50\n", "CHANGE\n9.50\nMEMBER: ONG KAH HOE\nH/P : 0126016884\n"
                           "BILL TO: WONG CHEE KEONG\nTEL: 019-146 5461\nEMAIL: cheekeongwong@example.com\n"
                           "HTTP://WWW.KEDAIMAJU.COM.MY\nTEL: 03-2201 4456\n")
    matches = {m.value: m for m in find_matches(body)}
    assert "0126016884" in matches  # a bare number, found because the line continues the member's
    for value, above in (("0126016884", "MEMBER: ONG KAH HOE"), ("019-146 5461", "BILL TO: WONG CHEE KEONG"),
                         ("cheekeongwong@example.com", "BILL TO: WONG CHEE KEONG")):
        whose, why = owner(body, matches[value], repeated=1)
        assert whose == "person" and above in why, (value, why)
    # '.COM.MY' is no 'my': the shop's line under its web address stays the shop's
    assert owner(body, matches["03-2201 4456"], repeated=1)[0] == "organisation"


def test_a_bare_number_is_a_phone_only_behind_one_trunk_zero():
    text = RECEIPT + "\nMEMBER 0000036581\nMEMBER: TAN (0196516569)"
    kinds = {m.value: m.kind for m in find_matches(text)}
    assert kinds["0000036581"] == "membership number"
    assert kinds["0196516569"] == "phone number"


def test_without_a_judge_far_rows_are_kept_once_and_small_data_keeps_them_as_found():
    from anchortune.quality.findings import Finding
    from anchortune.quality.relevance import MIN_ROWS, foreign_rows

    rng = np.random.default_rng(1)
    words = ["order", "refund", "delivery", "invoice", "account"]
    points = [AnchorPoint(({"role": "user", "content": f"q{i}"},
                           {"role": "assistant", "content": f"your {words[i % 5]} is on its way {words[(i + 1) % 5]}"}),
                          i + 1) for i in range(MIN_ROWS + 20)]
    points[0] = AnchorPoint(({"role": "user", "content": "q0"},
                             {"role": "assistant", "content": "roaming tariff sim porting bundle"}), 1)
    vectors = rng.normal(size=(len(points), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    far = [Finding(1, "off_task", "warning", "off task: far from the rest of the anchor points (score 9.0, fence 6.0)")]
    found = foreign_rows(points, vectors, None, None, frozenset(), far)
    assert [f.line for f in found].count(1) == 1
    assert foreign_rows(points[:50], vectors[:50], None, None, frozenset(), far) == far


def _receipts(count: int, seed: int = 0) -> list[AnchorPoint]:
    """Receipts of many shops: header, a title of the usual kinds, items, totals, a closing line, some lines left out."""
    import json
    import random

    rng = random.Random(seed)
    shops = ["KEDAI MAJU", "RESTORAN SRI", "TOKO BAHAGIA", "PASAR MINI AMAN", "KAFE HIJAU", "HARDWARE JAYA"]
    items = ["GLUE", "TAPE", "RICE 5KG", "TEH TARIK", "NASI LEMAK", "PAINT 1L", "SCREW", "MILO", "BREAD", "EGG"]
    points = []
    for n in range(count):
        shop = f"{rng.choice(shops)} {rng.choice(['ENTERPRISE', 'SDN BHD', 'TRADING'])}"
        address = f"NO {rng.randint(1, 99)}, JALAN {rng.choice(['PASAR', 'BESAR', 'MAWAR'])} {rng.randint(1, 9)}"
        bought = rng.sample(items, rng.randint(1, 4))
        total = sum(rng.randint(1, 30) for _ in bought)
        lines = [shop, address, f"TEL: 03-{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                 rng.choice(["TAX INVOICE", "CASH RECEIPT", "SIMPLIFIED TAX INVOICE", "INVOICE"]),
                 f"DATE: {rng.randint(1, 28):02d}/0{rng.randint(1, 9)}/2018", "CASHIER: STAFF", "ITEM QTY AMOUNT"]
        lines += [f"{item} {rng.randint(1, 3)} {rng.randint(1, 30)}.00" for item in bought]
        lines += [f"TOTAL {total}.00", "GST SUMMARY", "TAX 0.00", f"CASH {total + 10}.00", "CHANGE 10.00",
                  rng.choice(["THANK YOU", "THANK YOU PLEASE COME AGAIN", "GOODS SOLD ARE NOT RETURNABLE"])]
        lines = [line for line in lines if line.startswith(("TOTAL", "TEL")) or rng.random() > 0.12]
        fields = {"company": shop, "date": "01/01/2018", "address": address, "total": f"{total}.00"}
        points.append(_document("\n".join(lines), json.dumps(fields), n + 1))
    return points


def _document(text: str, answer: str, line: int) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": text}, {"role": "assistant", "content": answer}), line)


OTHER_KINDS = [
    "SYARIKAT BINAAN MEGAH SDN BHD\nNO 4, JALAN INDUSTRI 3\nPAYSLIP FOR MAY 2018\nEMPLOYEE NAME: STAFF\nEMPLOYEE NO "
    "E204\nBASIC SALARY 3200.00\nOVERTIME 150.00\nGROSS PAY 3350.00\nEPF CONTRIBUTION 368.50\nSOCSO 16.75\nNET PAY "
    "2964.75\nCOMPUTER GENERATED SLIP, NO SIGNATURE REQUIRED",
    "BANK PERDANA BERHAD\nMENARA PERDANA, JALAN AMPANG\nSTATEMENT OF ACCOUNT\nSTATEMENT DATE 31/05/2018\nACCOUNT "
    "NUMBER 1122-3344\nOPENING BALANCE 5000.00\nSALARY CREDIT 3000.00\nATM WITHDRAWAL 200.00\nONLINE TRANSFER "
    "450.00\nCLOSING BALANCE 7350.00\nDEPOSITS PROTECTED UP TO RM250,000",
    "AIR NUSANTARA BERHAD\nKLIA TERMINAL 1, SEPANG\nBOARDING PASS\nFLIGHT AN 512 SEAT 14C\nFROM KUALA LUMPUR TO "
    "KOTA KINABALU\nDEPARTURE 08:45 GATE B7\nBOARDING CLOSES 20 MINUTES BEFORE DEPARTURE\nFARE PAID 189.00\n"
    "PASSENGER STAFF\nBAGGAGE ALLOWANCE 20KG",
]


def test_a_document_of_another_kind_among_receipts_is_off_task_and_receipts_are_not():
    import json

    from anchortune.messages.catalogue import translate, untranslated
    from anchortune.quality.relevance import MIN_DOCUMENTS, foreign_documents

    receipts = _receipts(120)
    fields = json.dumps({"company": "X", "date": "31/05/2018", "address": "Y", "total": "1.00"})
    others = [_document(text, fields, 121 + k) for k, text in enumerate(OTHER_KINDS)]
    short = _document("PARKING\nPAID 3.00", fields, 124)  # too few words to tell its kind
    found = foreign_documents(receipts + others + [short])
    lines = {f.line for f in found}
    assert {121, 122, 123} <= lines, [f.message for f in found]
    assert 124 not in lines
    assert len(lines - {121, 122, 123}) <= 2, [f.message for f in found if f.line <= 120]
    message = next(f.message for f in found if f.line == 121)
    assert "'total'" in message and "'cash'" in message and "another kind" in message, message
    german = translate(message, "de")
    assert german.startswith("aufgabenfremd: ein Dokument anderer Art") and not untranslated(german), german
    assert foreign_documents(receipts[:MIN_DOCUMENTS - 1 - len(others)] + others) == []  # too few documents to know their kind
    # a row already reported (far from the centre, unreadable) is scored but not reported twice
    assert {f.line for f in foreign_documents(receipts + others, skip=frozenset({121}))} >= {122, 123}
    assert 121 not in {f.line for f in foreign_documents(receipts + others, skip=frozenset({121}))}
    # a row's own field values are no vocabulary of its kind: a payslip whose issuer is named like a receipt's words
    named = json.dumps({"company": "TOTAL CASH CHANGE TAX", "date": "1", "address": "THANK YOU", "total": "1"})
    disguised = _document("TOTAL CASH CHANGE TAX\nTHANK YOU\n" + OTHER_KINDS[0], named, 121)
    assert 121 in {f.line for f in foreign_documents(receipts + [disguised])}
