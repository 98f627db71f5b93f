"""Personal data and secrets in text: patterns with validation (Luhn for cards, mod-97 for IBANs).

Template placeholders such as {{Customer Phone Number}} are not personal data and never match.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s./-]?)?(?:\(\d{1,5}\)[\s./-]?)?\d{1,5}(?:[\s./-]?\d{2,8}){1,4}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
CARD_GROUPED = re.compile(r"^\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}$|^\d{4}([ -])\d{6}\2\d{5}$")
CARD_CONTEXT = re.compile(r"(?i)\b(?:card|credit|debit|visa|master ?card|amex|american express|kredit|karte|cc)\b")
SECRETS = {
    "API key": re.compile(r"\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9]{20,}\b"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"),
}


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


CARD_BRANDS = (  # (IIN prefix pattern, allowed lengths): Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay
    (re.compile(r"4"), (13, 16, 19)), (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)), (re.compile(r"6(?:011|5|4[4-9])"), (16, 19)), (re.compile(r"35(?:2[89]|[3-8])"), (16,)),
    (re.compile(r"3(?:0[0-5]|[689])"), (14,)), (re.compile(r"62"), (16, 17, 18, 19)),
)


def card_ok(digits: str) -> bool:
    """A payment card number: a known brand's prefix and length, and a valid Luhn check digit."""
    brand = any(p.match(digits) and len(digits) in lengths for p, lengths in CARD_BRANDS)
    return brand and len(set(digits)) > 1 and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _card_match(text: str, match: re.Match) -> bool:
    """A valid card number written as cards are (grouped 4-4-4-4), or any valid one named as a card nearby;
    long unformatted numbers on receipts (barcodes, references) pass Luhn one time in ten."""
    digits = re.sub(r"\D", "", match.group())
    if not card_ok(digits):
        return False
    return bool(CARD_GROUPED.match(match.group().strip())) or bool(
        CARD_CONTEXT.search(text[max(0, match.start() - 40):match.start()]))


def _phone_ok(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    if not 9 <= len(digits) <= 15:
        return False
    if re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", match.strip()):  # a date
        return False
    return match.strip().startswith(("+", "(")) or bool(re.search(r"\d[\s./-]\d", match))


def find_personal_data(text: str) -> list[str]:
    """Kinds of personal data or secrets found in the text (each kind once), e.g. ['e-mail', 'IBAN']."""
    kinds: list[str] = []
    if EMAIL.search(text):
        kinds.append("e-mail address")
    if any(iban_ok(m.group()) for m in IBAN.finditer(text)):
        kinds.append("IBAN")
    if any(_card_match(text, m) for m in CARD.finditer(text)):
        kinds.append("payment card number")
    if any(_phone_ok(m.group()) for m in PHONE.finditer(text)) and "payment card number" not in kinds:
        kinds.append("phone number")
    kinds += [name for name, pattern in SECRETS.items() if pattern.search(text)]
    return kinds
