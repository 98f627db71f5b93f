"""Personal data and secrets in text: patterns with validation (Luhn for cards, mod-97 for IBANs), and whose a
found value is.

Template placeholders such as {{Customer Phone Number}} are not personal data and never match.
An organisation's own published contact data (a shop's phone, e-mail and address on every receipt) is not a
person's: `owner` tells them apart by context (see its docstring). Card numbers and secrets are never an
organisation's published data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ \t./-]?)?(?:\(\d{1,5}\)[ \t./-]?)?\d{1,5}(?:[ \t./-]?\d{2,8}){1,4}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
LINE = re.compile(r"[^\n]+")
WEB_ADDRESS = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
BARE_NUMBER = re.compile(r"(?<![\w/.:-])[A-Z]{0,2}\d{6,14}(?![\w/.:-])")  # 0196516569, M30642106 (not dates, amounts)
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
    if re.match(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b", match.strip()):  # a date, or a date and a time
        return False
    return match.strip().startswith(("+", "(")) or bool(re.search(r"\d[\s./-]\d", match))


@dataclass(frozen=True)
class Match:
    """One value found: its kind, the value, and where it stands in the text."""

    kind: str
    value: str
    start: int


def find_matches(text: str) -> list[Match]:
    """Every personal-data value or secret in the text, in the order of the kinds below."""
    found = [Match("e-mail address", m.group(), m.start()) for m in EMAIL.finditer(text)]
    found += [Match("IBAN", m.group(), m.start()) for m in IBAN.finditer(text) if iban_ok(m.group())]
    cards = [Match("payment card number", m.group(), m.start()) for m in CARD.finditer(text) if _card_match(text, m)]
    found += cards
    if not cards:
        found += [Match("phone number", m.group().strip(), m.start()) for m in PHONE.finditer(text)
                  if _phone_ok(m.group())]
    taken = {m.start for m in found}
    document = text.count("\n") >= HEADER_LINES  # a receipt or letter, not prose ('my order 3707955617')
    for line in LINE.finditer(text if document else ""):  # a document's line about a person: its numbers are theirs
        if len(line.group().strip()) > DOCUMENT_LINE or not (
                PERSON_CONTEXT.search(line.group()) or _person_above(text, line.start(), line.group())):
            continue
        for m in BARE_NUMBER.finditer(line.group()):
            if line.start() + m.start() not in taken and not any(
                    f.start <= line.start() + m.start() < f.start + len(f.value) for f in found):
                # a trunk prefix is one 0 before an area or mobile code ('0196516569'); '0000036581' is a member's
                kind = "phone number" if re.fullmatch(r"0[1-9]\d+", m.group()) else "membership number"
                found.append(Match(kind, m.group(), line.start() + m.start()))
    found += [Match(name, m.group(), m.start()) for name, pattern in SECRETS.items() for m in pattern.finditer(text)]
    return found


def find_personal_data(text: str) -> list[str]:
    """Kinds of personal data or secrets found in the text (each kind once), e.g. ['e-mail', 'IBAN']."""
    return list(dict.fromkeys(m.kind for m in find_matches(text)))


PERSON_CONTEXT = re.compile(r"(?i)\b(?:my|me|mine|i'?m|i am|customer(?!\s*(?:service|care|support|hotline))|cust|member|"
                            r"membership|loyalty|client|patient|employee|guest|buyer|recipient|holder|card ?holder|"
                            r"bill to|ship to|deliver(?:y)? to|sold to|attn|attention|mr|mrs|ms|dr|name|private|"
                            r"personal (?:e-?mail|phone|mobile|address|number|details)|home)\b")
PERSON_DEVICE = re.compile(r"(?i)\b(?:mobile|cell|hp|h/p|handphone|whats ?apps?)\b")  # a shop prints these too
# a line that only labels contact data ('TEL: ...', 'H/P : ...', 'EMAIL: ...'): whose it is, the lines around say
CONTACT_LINE = re.compile(r"(?i)^\s*(?:tel(?:ephone)?|phone|mobile|cell|hp|h/p|handphone|whats ?apps?|e-?mail|contact)"
                          r"(?:\s*(?:no|number)\.?)?\s*[:.]")
ORG_CONTEXT = re.compile(r"(?i)\b(?:tel|fax|hotline|phone|website|www|sdn|bhd|ltd|limited|gmbh|inc|llc|plc|"
                         r"corp|co|company|reg|gst|vat|tax|branch|store|shop|outlet|office|headquarters|hq|"
                         r"enquir(?:y|ies)|customer (?:service|care)|care line)\b")
ROLE_MAILBOX = re.compile(r"(?i)^(?:info|sales|support|contact|admin|enquir(?:y|ies)|service|services|hello|office|"
                          r"accounts?|billing|cs|customer.?service|customercare|care|noreply|no-reply|help|"
                          r"marketing|orders?|shop|store|hr|finance|invoice|invoices)\d*$")
NAME_MAILBOX = re.compile(r"^[a-z]{2,}[._-][a-z]{2,}\d*$", re.IGNORECASE)
HEADER_LINES = 12  # a document's first lines: where a receipt or letter prints its issuer
BODY_START = re.compile(r"(?i)\b(?:date|receipt|invoice|bill|cashier|counter|table|qty|item|description|order|"
                        r"doc(?:ument)? no|inv no|trans)\b|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
FREE_MAIL = re.compile(r"(?i)@(?:gmail|googlemail|yahoo|hotmail|outlook|live|icloud|aol|gmx|web|proton(?:mail)?)\.")
DOCUMENT_LINE = 60  # a line this short is a document's (a receipt's 'TEL: ...'); in prose only a label counts
LABEL_REACH = 25  # characters before a value in prose where its label stands ('call our hotline 0800 ...')


def owner(text: str, match: Match, repeated: int) -> tuple[str, str]:
    """('person' | 'organisation' | 'unknown', why) for one value found in `text`, from the evidence a reader uses,
    strongest first:
    1. a card number or secret is a person's; an e-mail to a role mailbox (info@, sales@) an organisation's;
    2. a value on a line that names a person or their role (my, customer, member, holder, bill/ship/deliver to,
       Mr/Ms, name, home) is a person's, and so is one on a contact line ('TEL: ...') that continues such a line
       (`_person_above`: 'MEMBER: name' then 'H/P: number');
    3. a value in a document's header (its first HEADER_LINES lines, or its first third, whichever is shorter: where
       a receipt or letter prints its issuer), or on a line labelled as business contact data (Tel, Fax, Customer
       service, Sdn Bhd, GST Reg: anywhere on a short document line, just before the value in prose), is the
       organisation's, whatever device it names (a shop's 'MOBILE / WHATSAPP' line in its header is the shop's);
    4. an e-mail whose mailbox is a name (first.last) is a person's;
    5. a phone number or e-mail on `repeated` >= 2 rows is an organisation's (published contact data repeats; a
       person's rarely does; a repeated IBAN is not contact data and needs a label); an e-mail at a free mail
       provider that does not repeat is a person's;
    6. a number on a line naming a personal device (mobile, cell, H/P) outside the header is a person's.
    The caller (gate) also counts a value as the organisation's wherever the same document prints it as such.
    These hold on receipts the rules were not fitted on (bench/quality_gate.py, SROIE receipts 300-625)."""
    if match.kind in SECRETS or match.kind == "payment card number":
        return "person", "a card number or secret is never published contact data"
    line_start = text.rfind("\n", 0, match.start) + 1
    line_end = text.find("\n", match.start)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    around = line.replace(match.value, " ")
    mailbox = match.value.split("@")[0] if match.kind == "e-mail address" else ""
    if mailbox and ROLE_MAILBOX.match(mailbox):
        return "organisation", f"'{mailbox}@' is a role mailbox"
    if PERSON_CONTEXT.search(around):
        return "person", f"it stands on a line about a person ('{line.strip()[:60]}')"
    above = _person_above(text, line_start, line)
    if above:
        return "person", f"it stands under a line about a person ('{above[:60]}')"
    if _in_header(text, match.start):
        return "organisation", "it stands in the document's header, where its issuer is printed"
    labelled = re.split(r"[.!?;]\s", line[:max(0, match.start - line_start)][-LABEL_REACH:])[-1]  # its own sentence
    if ORG_CONTEXT.search(around if len(line.strip()) <= DOCUMENT_LINE else labelled):
        return "organisation", f"it stands on a line of business contact data ('{line.strip()[:60]}')"
    if mailbox and NAME_MAILBOX.match(mailbox):
        return "person", f"'{mailbox}@' is a person's name"
    if repeated >= 2 and match.kind in ("phone number", "e-mail address"):
        return "organisation", f"the same value appears on {repeated} rows"
    if mailbox and FREE_MAIL.search(match.value):
        return "person", "a private mailbox (a free mail provider) outside the issuer's header"
    if PERSON_DEVICE.search(around) and match.kind == "phone number":
        return "person", f"a personal device's number outside the issuer's header ('{line.strip()[:60]}')"
    return "unknown", ""


def _person_above(text: str, line_start: int, line: str) -> str:
    """The line about a person that a contact line ('TEL: ...') continues: the one just above it, or the one above
    a contact line just above it ('BILL TO: name' / 'TEL: ...' / 'EMAIL: ...'); '' where there is none. A reader takes
    a customer's or member's block as theirs to its end, as a letter's header is its sender's."""
    if not CONTACT_LINE.match(line):
        return ""
    before = text[:max(0, line_start - 1)].split("\n")[-2:]
    for k, previous in enumerate(reversed(before)):
        words = WEB_ADDRESS.sub(" ", EMAIL.sub(" ", previous))  # 'WWW.SUPER7.COM.MY' says nothing of a person
        if len(previous.strip()) <= DOCUMENT_LINE and PERSON_CONTEXT.search(words):
            return previous.strip()
        if not CONTACT_LINE.match(previous):
            return ""
    return ""


def _in_header(text: str, position: int) -> bool:
    """Whether `position` lies in a document's header, where its issuer prints itself: the lines before the first
    that speaks of a person (a customer or member line is not the issuer's) or starts the document's body (a
    date, a receipt or bill number, the cashier, the items), and at most the first HEADER_LINES lines or the first
    third, whichever is shorter, of a text of at least HEADER_LINES lines (prose has no header)."""
    lines = text.split("\n")
    if len(lines) < HEADER_LINES:
        return False
    limit = min(HEADER_LINES, len(lines) // 3)
    for k, line in enumerate(lines[:limit]):
        words = EMAIL.sub(" ", line)  # 'SHOP@YAHOO.COM.MY' says nothing of a person
        if k > 0 and (PERSON_CONTEXT.search(words) or BODY_START.search(words)):
            limit = k
            break
    return text.count("\n", 0, position) < limit
