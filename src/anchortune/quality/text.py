"""Text measures the gate's detectors share: normalisation, shingles, Jaccard, garbled and cut-off text,
language. Pure functions over strings; no embeddings, no models.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
SENTENCE_END = tuple(".!?)\"'”»:;…") + ("}}", "]", "*", "`")


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the key for exact duplicates."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def shingles(text: str, k: int = 5) -> frozenset[str]:
    """Character k-grams of the whitespace-collapsed lower-cased text."""
    flat = " ".join(text.lower().split())
    if len(flat) <= k:
        return frozenset([flat])
    return frozenset(flat[i:i + k] for i in range(len(flat) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def words(text: str) -> list[str]:
    return WORD.findall(PLACEHOLDER.sub(" ", text.lower()))


def vocabulary(texts: list[str]) -> Counter:
    """How many texts each word appears in (document frequency)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(set(words(text)))
    return counts


def garbled_reason(text: str, vocab: Counter) -> str | None:
    """Why a text reads as garbled (mojibake, noise characters, words nobody else uses), or None."""
    from ftfy.badness import is_bad

    stripped = text.strip()
    if not stripped:
        return None
    if is_bad(stripped):
        return "it contains mojibake (text decoded with the wrong encoding)"
    if re.search(r"(.)\1{7,}", stripped):
        return "it contains a character repeated many times"
    visible = [c for c in stripped if not c.isspace()]
    noise = sum(1 for c in visible if not (c.isalnum() or c in ".,;:!?'\"()-{}[]/&%$€£@#*+=<>_|~^`’“”–—…«»"))
    if visible and noise / len(visible) > 0.3:
        return "most of its characters are symbols, not words"
    tokens = words(stripped)
    if len(tokens) >= 4:
        unknown = sum(1 for w in tokens if vocab[w] <= 1)
        if unknown / len(tokens) > 0.6:
            return f"{unknown} of its {len(tokens)} words appear nowhere else in the data"
    return None


def looks_cut_off(text: str) -> bool:
    """Ends mid-sentence: no closing punctuation, bracket or placeholder after a long answer."""
    stripped = text.rstrip()
    if len(stripped.split()) < 8:
        return False
    if stripped.endswith(SENTENCE_END):
        return False
    last = stripped[-1]
    return last.isalnum() or last in ",-–("


@cache
def _language_detector(accurate: bool):
    from lingua import Language, LanguageDetectorBuilder

    languages = [Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.ITALIAN,
                 Language.DUTCH, Language.PORTUGUESE]
    builder = LanguageDetectorBuilder.from_languages(*languages)
    return (builder if accurate else builder.with_low_accuracy_mode()).build()


def languages(texts: list[str], min_words: int = 6, min_confidence: float = 0.9,
              accurate: bool = False) -> list[str | None]:
    """ISO 639-1 code of each text's language where it is long enough and clearly one language, else None.

    The fast mode (trigrams only) screens; callers confirm its rare surprises with accurate=True."""
    detector = _language_detector(accurate)
    out: list[str | None] = [None] * len(texts)
    chosen = [i for i, text in enumerate(texts) if len(words(text)) >= min_words]
    cleaned = [PLACEHOLDER.sub(" ", texts[i]) for i in chosen]
    for i, values in zip(chosen, detector.compute_language_confidence_values_in_parallel(cleaned)):
        if values and values[0].value >= min_confidence:
            out[i] = values[0].language.iso_code_639_1.name.lower()
    return out
