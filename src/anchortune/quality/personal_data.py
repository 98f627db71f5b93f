"""The personal data detector: personal data and secrets in an anchor point (values found by quality/pii.py), a
person's at warning level, an organisation's own published contact data at info. Knows nothing of the other
detectors; the gate runs it from the declared list (quality/detectors.py).
"""

from __future__ import annotations

import re

from anchortune.data.records import AnchorPoint
from anchortune.quality.detectors import Rows
from anchortune.quality.findings import Finding
from anchortune.quality.pii import find_matches, owner


def find(rows: Rows) -> list[Finding]:
    """The personal data findings of `rows`, with the kinds its task's documents are expected to carry."""
    return personal_data(rows.points, set(rows.preset.quality.expected_personal_data))


def personal_data(points: list[AnchorPoint], expected: set[str]) -> list[Finding]:
    """Personal data and secrets. A person's (pii.owner) is a warning; an organisation's own published contact data
    (a shop's phone and e-mail on its receipts) is reported at info level, saying why; values whose owner the
    context does not tell are warnings, except phone numbers and the kinds the preset expects in its documents
    (a vendor's e-mail and IBAN on an invoice)."""
    texts = ["\n".join(m["content"] for m in point.messages) for point in points]
    matches = [find_matches(text) for text in texts]
    rows_with: dict[str, set[int]] = {}
    for row, found in enumerate(matches):
        for m in found:
            rows_with.setdefault(_value_key(m.value), set()).add(row)
    findings = []
    for row, (point, text, found) in enumerate(zip(points, texts, matches)):
        people, organisations, unknown = [], [], []
        judged = [(m, *owner(text, m, len(rows_with[_value_key(m.value)]))) for m in found]
        # a value the document prints as its issuer's somewhere (a header's 'TEL ..., 012-...') is the issuer's
        # wherever else it prints it ('H/P: 012-...' further down)
        issuers = {_value_key(m.value): why for m, whose, why in judged if whose == "organisation"}
        for m, whose, why in judged:
            if whose != "organisation" and m.kind in ("phone number", "e-mail address") and _value_key(m.value) in issuers:
                whose, why = "organisation", issuers[_value_key(m.value)]
            (people if whose == "person" else organisations if whose == "organisation" else unknown).append((m, why))
        # a member or customer number alone names nobody: reported, and masked by many teams, but no warning
        ids = [m for m, _ in people if m.kind == "membership number" and not _names_someone(text, m)]
        people = [(m, why) for m, why in people if m not in ids]
        warn = people + [(m, why) for m, why in unknown if m.kind not in expected | {"phone number"}]
        if warn:
            kinds = ", ".join(dict.fromkeys(m.kind for m, _ in warn))
            why = warn[0][1] or "nothing marks it as published business contact data"
            findings.append(Finding(point.line, "personal_data", "warning",
                                    f"contains a person's {kinds} ({why}); remove or mask it before training"))
        elif ids and not (organisations or unknown):
            findings.append(Finding(point.line, "personal_data", "info",
                                    f"contains a member or customer number ('{ids[0].value}'): it identifies a customer "
                                    "but names nobody; kept (mask it where your policy asks)"))
        elif organisations or unknown:
            kinds = ", ".join(dict.fromkeys(m.kind for m, _ in organisations + unknown))
            why = organisations[0][1] if organisations else "a kind this task's documents carry"
            findings.append(Finding(point.line, "personal_data", "info",
                                    f"contains {kinds}, which look like an organisation's own published contact data "
                                    f"({why}), not a person's: kept"))
    return findings


LABEL_WORDS = frozenset("member membership loyalty card no num number customer cust valued holder id acc account "
                        "name".split())


def _names_someone(text: str, match) -> bool:
    """Whether the line of a member or customer number also carries a name: two words or more that are not its
    label ('Member: FARAH HANIM / M30642106', not 'VALUED CUSTOMER: 1170086176')."""
    start = text.rfind("\n", 0, match.start) + 1
    end = text.find("\n", match.start)
    line = text[start:end if end >= 0 else len(text)].replace(match.value, " ")
    return len([w for w in re.findall(r"[^\W\d_]{2,}", line.casefold()) if w not in LABEL_WORDS]) >= 2


def _value_key(value: str) -> str:
    return re.sub(r"[\s().-]", "", value).casefold()
