"""Synthetic invoices with gold JSON, written for anchortune's invoice task: English and German
layouts, several fictional vendors, currencies and date formats. Gold values are copied exactly as
the document writes them (the invoice preset asks the model to copy values as written).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta

from anchortune.data.records import AnchorPoint


@dataclass(frozen=True)
class Vendor:
    name: str
    address: str
    language: str
    currency: str


VENDORS = [
    Vendor("Harbour Lane Stationery Ltd", "14 Harbour Lane, Bristol BS1 5TY, United Kingdom", "en", "GBP"),
    Vendor("Copperfield Office Supply Inc.", "2210 Market Street, Denver, CO 80205, USA", "en", "USD"),
    Vendor("Bluefin Catering Pte Ltd", "88 Marina Way #04-12, Singapore 018971", "en", "SGD"),
    Vendor("Kestrel IT Services", "Unit 3, 45 Bridge Road, Dublin D04 X2Y7, Ireland", "en", "EUR"),
    Vendor("Mühlbach Druckerei GmbH", "Lindenstraße 12, 80331 München, Deutschland", "de", "EUR"),
    Vendor("Nordlicht Gebäudereinigung KG", "Hafenweg 7, 20457 Hamburg, Deutschland", "de", "EUR"),
    Vendor("Alpenblick Bürobedarf AG", "Seestrasse 41, 8002 Zürich, Schweiz", "de", "CHF"),
    Vendor("Weingut Sonnenhang", "Rebenweg 3, 67098 Bad Dürkheim, Deutschland", "de", "EUR"),
]
ITEMS = {
    "en": ["Printer paper A4 (box)", "Ink cartridge black", "Consulting hours", "Catering lunch buffet",
           "Office chair", "Laptop stand", "Cleaning service", "Software licence (annual)", "Delivery fee"],
    "de": ["Druckerpapier A4 (Karton)", "Tonerkartusche schwarz", "Beratungsstunden", "Unterhaltsreinigung",
           "Bürostuhl", "Visitenkarten (500 Stk.)", "Rotwein Spätburgunder (Kiste)", "Versandkosten"],
}
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
             "November", "Dezember"]
SYMBOL = {"GBP": "£", "USD": "$", "SGD": "S$", "EUR": "€", "CHF": "CHF"}


def _date_text(day: date, language: str, rng: random.Random) -> str:
    if language == "de":
        return rng.choice([f"{day:%d.%m.%Y}", f"{day.day}. {MONTHS_DE[day.month - 1]} {day.year}", f"{day:%Y-%m-%d}"])
    return rng.choice([f"{day:%d/%m/%Y}", f"{day:%Y-%m-%d}", f"{MONTHS_EN[day.month - 1]} {day.day}, {day.year}",
                       f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"])


def _money(amount: float, language: str) -> str:
    text = f"{amount:,.2f}"
    return text.replace(",", "X").replace(".", ",").replace("X", ".") if language == "de" else text


def _invoice(rng: random.Random, index: int) -> tuple[str, dict]:
    vendor = rng.choice(VENDORS)
    lang = vendor.language
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
    number = rng.choice([f"INV-{day.year}-{index:04d}", f"{rng.randrange(100000, 999999)}",
                         f"RE{day:%y}{rng.randrange(1000, 9999)}" if lang == "de" else f"A{rng.randrange(10000, 99999)}"])
    lines, net = [], 0.0
    for item in rng.sample(ITEMS[lang], rng.randint(1, 4)):
        qty, price = rng.randint(1, 12), rng.randrange(250, 45000) / 100
        net += qty * price
        lines.append(f"{item:<34} {qty:>3} x {_money(price, lang):>10} = {_money(qty * price, lang):>10}")
    rate = {"GBP": 0.20, "USD": 0.0, "SGD": 0.09, "EUR": 0.19 if lang == "de" else 0.23, "CHF": 0.081}[vendor.currency]
    total = round(net * (1 + rate), 2)
    total_text = _money(total, lang)
    date_text = _date_text(day, lang, rng)
    cur = SYMBOL[vendor.currency]
    if lang == "de":
        text = "\n".join([vendor.name, vendor.address, "", f"RECHNUNG Nr. {number}", f"Rechnungsdatum: {date_text}",
                          "", "Pos. Bezeichnung / Menge / Einzelpreis / Betrag", *lines, "",
                          f"Nettobetrag: {_money(net, lang)} {cur}", "USt. " + f"{rate * 100:.1f}".replace(".", ",") + " %",
                          f"Gesamtbetrag: {total_text} {cur}", "Zahlbar innerhalb von 14 Tagen ohne Abzug."])
    else:
        text = "\n".join([vendor.name, vendor.address, "", f"INVOICE #{number}", f"Date: {date_text}", "",
                          "Description / Qty / Unit price / Amount", *lines, "",
                          f"Subtotal: {cur}{_money(net, lang)}", f"Tax ({rate * 100:.0f}%)",
                          f"TOTAL DUE: {cur}{total_text} {vendor.currency}", "Thank you for your business."])
    gold = {"company": vendor.name, "date": date_text, "address": vendor.address, "total": total_text,
            "invoice_number": number}
    return text, gold


def invoice_demo(n: int = 200, seed: int = 11) -> list[AnchorPoint]:
    """n synthetic invoices as anchor points: the document as prompt, its gold fields as JSON answer."""
    rng = random.Random(seed)
    points = []
    for i in range(1, n + 1):
        text, gold = _invoice(rng, i)
        messages = ({"role": "user", "content": text}, {"role": "assistant", "content": json.dumps(gold, ensure_ascii=False)})
        points.append(AnchorPoint(messages, line=i))
    return points
