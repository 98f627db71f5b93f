"""Numbers the way a language writes them: 0.67 and 1,234 in English, 0,67 and 1.234 in German, '22 %' with a
space in German; signs kept. Pure functions over numbers and strings."""

from __future__ import annotations

import math
import re

_DECIMAL = re.compile(r"(?<![\w.,])([+\-−]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w]|\.\d)(\s?%)?")


def format_number(value, lang: str = "en", digits: int = 2, percent: bool = False, sign: bool = False) -> str:
    """`value` with `digits` decimals (a share as percent with `percent`), grouped thousands, the language's marks."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    number = 100 * float(value) if percent else float(value)
    text = f"{number:{'+' if sign else ''},.{digits}f}"
    if lang == "de":
        text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    return text + ((" %" if lang == "de" else "%") if percent else "")


def localise_numbers(text: str, lang: str) -> str:
    """English-written numbers inside a text (a value taken out of a sentence) written the language's way."""
    if lang == "en" or not text:
        return text

    def german(match: re.Match) -> str:
        sign, whole, fraction, pct = match.group(1), match.group(2), match.group(3), match.group(4)
        whole = whole.replace(",", ".")
        out = sign + whole + ("," + fraction if fraction else "")
        return out + (" %" if pct else "")

    return _DECIMAL.sub(german, text)
