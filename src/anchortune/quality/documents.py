"""Whether two document texts are one document read twice (another scan, another OCR pass, a copy): the same numbers,
dates and times, with OCR look-alikes read as digits. Pure functions over strings.
"""

from __future__ import annotations

import re
from collections import Counter

from anchortune.quality.text import hashed_jaccard, shingle_hashes

OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1", "S": "5", "s": "5", "B": "8",
                            "Z": "2", "G": "6"})
NUMBER_TOKEN = re.compile(r"[0-9OoDIl|SsBZG]*\d[0-9OoDIl|SsBZG.,:/-]*")
SAME_NUMBERS = 0.8  # share of a document's numbers another must share to be the same document scanned again
SAME_TEXT = 0.5  # and of its character 5-grams
MOMENT = re.compile(r"(?i)\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b|"
                    r"\b\d{1,2}\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s*\d{2,4}\b")


def _moments(text: str) -> set[str]:
    """The dates and times of day a document prints (OCR look-alikes read as digits, separators dropped)."""
    read = NUMBER_TOKEN.sub(lambda m: m.group().translate(OCR_DIGITS), text)  # in numbers only: 'AUG' stays a month
    return {re.sub(r"[^0-9a-z]", "", m.group().lower()) for m in MOMENT.finditer(read)}


def _numbers(text: str) -> list[str]:
    """A document's numbers in order, OCR look-alikes read as digits ('93.4O' -> '93.40')."""
    return [re.sub(r"\D", "", t.translate(OCR_DIGITS)) for t in NUMBER_TOKEN.findall(text)]


def same_document(a: str, b: str) -> bool:
    """Two texts are one document scanned twice: the same numbers (amounts, dates, receipt numbers; multiset Jaccard
    >= SAME_NUMBERS, OCR look-alikes read as digits) and much of the same text (5-gram Jaccard >= SAME_TEXT). Two
    receipts of one shop share its header but never all of their amounts, dates and numbers."""
    na, nb = Counter(_numbers(a)), Counter(_numbers(b))
    if not na or not nb:
        return False
    ta, tb = _moments(a), _moments(b)
    if not (ta <= tb or tb <= ta):  # another date or time of day: another purchase, however alike its items
        return False
    if sum((na & nb).values()) / max(1, sum((na | nb).values())) < SAME_NUMBERS:
        return False
    return hashed_jaccard(shingle_hashes(a), shingle_hashes(b)) >= SAME_TEXT
