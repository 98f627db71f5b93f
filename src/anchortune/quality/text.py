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


FILLER = frozenset("a an the my me i you your please pls plz to for of in on at is are can could would will "
                   "do does how what hi hello hey thanks thank help".split())


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Edit distance with adjacent transpositions counted once (optimal string alignment), giving up
    (returning limit + 1) once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def _token_key(token: str) -> str:
    return "0" if token.isdigit() else token


def same_question(a: str, b: str, ignore_numbers: bool = True) -> bool:
    """True when two prompts differ only by typos (one edit per short word, two per long word),
    numbers, placeholders and filler words: the same question asked twice. "cancel order 12" and
    "change order 12" are different questions; "cancel order 12" and "cancle order 34" are not."""
    from difflib import SequenceMatcher

    key = _token_key if ignore_numbers else str
    ta = [key(t) for t in normalise(PLACEHOLDER.sub(" ", a)).split()]
    tb = [key(t) for t in normalise(PLACEHOLDER.sub(" ", b)).split()]
    if not ta or not tb:
        return ta == tb
    for op, i1, i2, j1, j2 in SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        left, right = ta[i1:i2], tb[j1:j2]
        if len(left) != len(right):
            left, right = [t for t in left if t not in FILLER], [t for t in right if t not in FILLER]
        if op == "replace" and len(left) == len(right):
            for x, y in zip(left, right):
                allowed = 1 if max(len(x), len(y)) < 8 else 2
                if x != y and not (x in FILLER and y in FILLER) and edit_distance(x, y, allowed) > allowed:
                    return False
        elif not all(t in FILLER for t in left + right):
            if not (op == "replace" and "".join(left) == "".join(right)):  # a split or joined word
                return False
    return True


def words(text: str) -> list[str]:
    return WORD.findall(PLACEHOLDER.sub(" ", text.lower()))


def vocabulary(texts: list[str]) -> Counter:
    """How many texts each word appears in (document frequency)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(set(words(text)))
    return counts


def garbled_reason(text: str, vocab: Counter | None, pieces=None) -> str | None:
    """Why a text reads as garbled (mojibake, noise characters, non-words), or None.

    A non-word is unknown to the rest of the data and falls apart into word pieces (`pieces(word)`,
    the embedder's WordPiece count, at least 0.45 per character: 'xqzt' -> x ##q ##z ##t), so rare
    real words ('helicase', 'kostenlos': 0.33-0.38) are not counted. Without a vocabulary (names,
    codes and amounts in JSON fields) the word check is skipped."""
    from ftfy.badness import is_bad

    stripped = text.strip()
    if not stripped:
        return None
    if is_bad(stripped):
        return "it contains mojibake (text decoded with the wrong encoding)"
    if re.search(r"(.)\1{7,}", stripped):
        return "it contains a character repeated many times"
    visible = [c for c in stripped if not c.isspace()]
    if len(visible) >= 6 and sum(c.isalnum() for c in visible) / len(visible) < 0.5:
        return "most of its characters are symbols, not words"
    tokens = words(stripped) if vocab is not None and pieces is not None else []
    if len(tokens) >= 4:
        unknown = sum(1 for w in tokens if vocab[w] <= 1 and len(w) >= 3 and pieces(w) / len(w) >= 0.45)
        if unknown / len(tokens) > 0.5:
            return f"{unknown} of its {len(tokens)} words are not words"
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

    The fast mode (trigrams only) screens; callers confirm its rare surprises with accurate=True, whose
    models (~250 MB) are unloaded again afterwards: a training that follows the gate needs the memory."""
    out: list[str | None] = [None] * len(texts)
    chosen = [i for i, text in enumerate(texts) if len(words(text)) >= min_words]
    if not chosen:
        return out
    detector = _language_detector(accurate)
    cleaned = [PLACEHOLDER.sub(" ", texts[i]) for i in chosen]
    for i, values in zip(chosen, detector.compute_language_confidence_values_in_parallel(cleaned)):
        if values and values[0].value >= min_confidence:
            out[i] = values[0].language.iso_code_639_1.name.lower()
    if accurate:
        detector.unload_language_models()
    return out
