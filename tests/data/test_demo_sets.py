"""The project's own demo anchor points: varied support answers and synthetic invoices with gold JSON."""

from __future__ import annotations

import json
import re
from collections import Counter

from anchortune.data.demo_invoices import invoice_demo
from anchortune.data.demo_support import support_demo


def test_support_demo_has_150_distinct_examples_over_10_intents():
    points = support_demo()
    intents = Counter(p.label for p in points)
    assert len(points) >= 150 and len(intents) >= 10 and min(intents.values()) >= 10
    assert len({p.prompt for p in points}) == len(points)
    answers_per_intent = {i: len({p.answer for p in points if p.label == i}) for i in intents}
    assert min(answers_per_intent.values()) >= 2


def test_invoice_demo_covers_languages_vendors_currencies_and_date_formats():
    points = invoice_demo(200)
    golds = [json.loads(p.answer) for p in points]
    texts = [p.prompt for p in points]
    assert sum("RECHNUNG" in t for t in texts) > 20 and sum("INVOICE" in t for t in texts) > 20
    assert len({g["company"] for g in golds}) >= 6
    assert {c for t in texts for c in ("€", "£", "$", "CHF") if c in t} == {"€", "£", "$", "CHF"}
    shapes = {re.sub(r"\d", "9", g["date"]) for g in golds if not re.search(r"[A-Za-zä]", g["date"])}
    assert {"99/99/9999", "9999-99-99", "99.99.9999"} <= shapes
    assert any(re.search(r"[A-Za-z]", g["date"]) for g in golds)


def test_invoice_gold_values_are_written_in_the_document():
    for point in invoice_demo(50):
        gold = json.loads(point.answer)
        assert all(value in point.prompt for value in gold.values()), gold


def test_the_readme_counts_the_support_demo_as_it_is():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    points = support_demo()
    said = re.search(r"support\s+answers of a fictional shop \((\d+) examples, (\d+) intents\)", readme)
    assert said and (int(said.group(1)), int(said.group(2))) == (len(points), len({p.label for p in points}))
