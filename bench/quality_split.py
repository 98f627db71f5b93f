"""The two parts of the shared data the quality gate is measured on: one its rules and thresholds are fitted on,
one they never saw.

    fit       Bitext support rows of the categories ACCOUNT, ORDER, DELIVERY, FEEDBACK, NEWSLETTER,
              CANCELLATION_FEE (2,170 rows); SROIE receipts 000-299 (300).
    held_out  Bitext support rows of the categories REFUND, INVOICE, PAYMENT, CONTACT, SHIPPING_ADDRESS (1,441 rows:
              other requests, other wording); SROIE receipts 300-449 (150: other shops, as a user's own would be).

Split by topic and by shop rather than by random rows, so that a rule fitted on one part cannot lean on wording or
shops it has already seen. Every gate threshold changed from issue 36 on was chosen on `fit` alone; the bench reports
both parts side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

FIT_CATEGORIES = frozenset({"ACCOUNT", "ORDER", "DELIVERY", "FEEDBACK", "NEWSLETTER", "CANCELLATION_FEE"})
FIT_RECEIPTS = 300  # receipts 000-299 fit, 300-449 held out
PARTS = ("fit", "held_out", "all")


def in_part(row: dict, index: int, part: str) -> bool:
    """Whether raw row `index` (0-based, file order) of a shared file belongs to `part`."""
    if part == "all":
        return True
    if "category" in row:
        fit = row["category"] in FIT_CATEGORIES
    elif "ocr_text" in row:
        fit = int(row.get("id", index)) < FIT_RECEIPTS
    else:
        fit = index % 2 == 0  # other files: every other row
    return fit == (part == "fit")


def part_lines(path: Path, part: str) -> set[int]:
    """1-based line numbers of `path`'s rows in `part`."""
    with path.open(encoding="utf-8") as handle:
        return {i + 1 for i, line in enumerate(handle) if line.strip() and in_part(json.loads(line), i, part)}
