"""Text measures the gate's detectors share: normalisation, shingles, Jaccard, garbled and cut-off text,
language. Pure functions over strings; no embeddings, no models.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache

WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
SENTENCE_END = tuple(".!?)\"'”»:;…") + ("}}", "]", "*", "`")


def normalise(text: str) -> str:
    """Unicode compatibility forms folded (NFKC: full-width letters, ligatures, non-breaking spaces), case folded,
    punctuation dropped, whitespace collapsed: the key for exact duplicates, which are the same text to a reader."""
    return " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text).casefold()).split())


def shingles(text: str, k: int = 5) -> frozenset[str]:
    """Character k-grams of the whitespace-collapsed lower-cased text."""
    flat = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    if len(flat) <= k:
        return frozenset([flat])
    return frozenset(flat[i:i + k] for i in range(len(flat) - k + 1))


def shingle_hashes(text: str, k: int = 5):
    """`shingles(text, k)` as a sorted array of distinct 32-bit hashes (numpy): ~2.4 KB for a 600-character text
    where the set of strings takes ~50 KB, so the gate keeps every row's in memory at 200,000 rows. Two different
    shingles share a hash with odds of 1 in 4 billion, which moves a Jaccard score by one element at most."""
    import numpy as np

    flat = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    codes = np.frombuffer(flat.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < k:  # a text shorter than one shingle is one shingle
        codes = np.concatenate([codes, np.zeros(k - len(codes), dtype=np.uint64)])
    width = len(codes) - k + 1
    hashed = np.zeros(width, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the rolling hash
        for j in range(k):
            hashed = hashed * np.uint64(0x100000001B3) + codes[j:j + width]
    return np.unique((hashed ^ (hashed >> np.uint64(32))).astype(np.uint32))


def hashed_jaccard(a, b) -> float:
    """Jaccard similarity of two `shingle_hashes` arrays."""
    import numpy as np

    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / max(1, len(a) + len(b) - shared)


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
    return same_question_words(question_words(a, ignore_numbers), question_words(b, ignore_numbers))


def question_words(text: str, ignore_numbers: bool = True) -> tuple[str, ...]:
    """A prompt's words as `same_question` compares them (computed once per row by callers comparing many pairs)."""
    key = _token_key if ignore_numbers else str
    return tuple(key(t) for t in normalise(PLACEHOLDER.sub(" ", text)).split())


def same_question_words(ta: tuple[str, ...], tb: tuple[str, ...]) -> bool:
    """`same_question` on two prompts' `question_words`."""
    from difflib import SequenceMatcher

    if ta == tb:
        return True
    if not ta or not tb:
        return False
    if [t for t in ta if t not in FILLER] == [t for t in tb if t not in FILLER]:  # only filler words differ
        return True
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


CONTENT_WORD = re.compile(r"[^\W\d_]{3,}")
STOP = frozenset("the and for you your our with that this can will are was has have not from but any all its "
                 "they them their there here what when where which who how why also just may been into more "
                 "than then very would could should about after before while".split())


def content_words(text: str) -> set[str]:
    """The words of three letters or more that say what a text is about (no digits, placeholders or stop words)."""
    return set(CONTENT_WORD.findall(PLACEHOLDER.sub(" ", text).casefold())) - STOP


def vocabulary(texts: list[str]) -> Counter:
    """How many texts each word appears in (document frequency)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(set(words(text)))
    return counts


class CharModel:
    """Character trigram statistics of the data's own text (case and Unicode forms folded, digits and placeholders
    dropped): how usual a text's letter sequences are for this data. Keyboard mash ('sdfg hjkl') and random letters
    are far less likely than the data's words, whatever their case; upper-case or rare words are not."""

    def __init__(self, texts: list[str]):
        self.trigrams: Counter = Counter()
        self.bigrams: Counter = Counter()
        for text in texts:
            flat = self._prepare(text)
            self.trigrams.update(flat[i:i + 3] for i in range(len(flat) - 2))
            self.bigrams.update(flat[i:i + 2] for i in range(len(flat) - 2))
        self.alphabet = max(1, len({c for gram in self.bigrams for c in gram}))
        self._logs: dict[str, float] = {}  # each trigram's log-probability, computed once

    @staticmethod
    def _prepare(text: str) -> str:
        text = PLACEHOLDER.sub(" ", unicodedata.normalize("NFKC", text).casefold())
        return " " + " ".join(re.sub(r"\d+", " ", text).split()) + " "

    def score(self, text: str) -> float | None:
        """Mean log-probability per character (None for texts with fewer than six letters)."""
        import math

        if sum(c.isalpha() for c in text) < 6:
            return None
        flat = self._prepare(text)
        logs = self._logs
        total = 0.0
        for i in range(len(flat) - 2):
            gram = flat[i:i + 3]
            value = logs.get(gram)
            if value is None:
                value = logs[gram] = math.log((self.trigrams[gram] + 0.1) / (self.bigrams[gram[:2]] + 0.1 * self.alphabet))
            total += value
        return total / (len(flat) - 2)


KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "yxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn")


def keyboard_run(word: str) -> bool:
    """Most of the word's letter pairs are neighbouring keys of one keyboard row (QWERTY, QWERTZ or AZERTY, either
    direction): 'asdf', 'hjkl', 'zxcv' are hands on a keyboard, not words."""
    pairs = list(zip(word, word[1:]))
    near = sum(any(abs(row.find(a) - row.find(b)) == 1 and a in row and b in row for row in KEY_ROWS) for a, b in pairs)
    return len(pairs) >= 2 and near / len(pairs) >= 2 / 3


def garbled_reason(text: str, vocab: Counter | None, pieces=None, chars: CharModel | None = None,
                   fence: float | None = None) -> str | None:
    """Why a text reads as garbled (mojibake, noise characters, non-words), or None.

    A non-word falls apart into word pieces (`pieces(word)`, the embedder's WordPiece count, at least 0.45 per
    character: 'xqzt' -> x ##q ##z ##t), so rare real words ('helicase', 'kostenlos': 0.33-0.38) are not counted.
    Most words non-words is garbled when the text's letter sequences are also unlike the data's (`chars` score
    under `fence`, the data's own lower fence): keyboard mash repeated over many rows stays mash, and letter case
    never matters. Without a character model, a non-word must also be unknown to the rest of the data (`vocab`)."""
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
    tokens = words(stripped) if pieces is not None else []
    if len(tokens) >= 3 and chars is not None and fence is not None:
        unknown = [w for w in tokens if len(w) >= 3 and pieces(w) / len(w) >= 0.45]
        if len(unknown) / len(tokens) <= 0.5:
            return None
        mashed = sum(keyboard_run(w) for w in unknown)
        if mashed / len(tokens) > 0.5:
            return f"{mashed} of its {len(tokens)} words are runs of neighbouring keys ('{unknown[0]}'): keyboard mash"
        score = chars.score(stripped)
        if score is not None and score < fence:
            return (f"{len(unknown)} of its {len(tokens)} words are not words (letter sequences unlike the rest of "
                    f"the data's: {score:.2f} per character, the data's fence {fence:.2f})")
    elif len(tokens) >= 4 and vocab is not None:
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


LANGUAGE_CHARS = 400  # a text's opening tells its language; lingua's cost grows with the length


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
    cleaned = [PLACEHOLDER.sub(" ", texts[i][:LANGUAGE_CHARS]) for i in chosen]
    for i, values in zip(chosen, detector.compute_language_confidence_values_in_parallel(cleaned)):
        if values and values[0].value >= min_confidence:
            out[i] = values[0].language.iso_code_639_1.name.lower()
    if accurate:
        detector.unload_language_models()
    return out


def confidence_in(texts: list[str], codes: list[str], accurate: bool = False) -> list[float]:
    """How sure lingua is that each text is in the language of the matching ISO 639-1 code (0-1), on the text's
    opening: a short answer in another language scores near 0 for the question's language even where lingua cannot
    tell Spanish from Portuguese in it. A code the detector does not know scores 1 (never a mismatch)."""
    detector = _language_detector(accurate)
    known = _known_languages()
    out = [detector.compute_language_confidence(PLACEHOLDER.sub(" ", text[:LANGUAGE_CHARS]), known[code])
           if code in known else 1.0 for text, code in zip(texts, codes)]
    if accurate:
        detector.unload_language_models()
    return out


def in_language(code: str | None) -> str:
    """'in German' for 'de', for a sentence (the catalogue's terms say it in German: 'auf Deutsch'); 'in another
    language' for a code the detector does not know, or none."""
    known = _known_languages()
    return f"in {known[code].name.capitalize()}" if code in known else "in another language"


@cache
def _known_languages() -> dict:
    """The detector's languages by ISO 639-1 code."""
    from lingua import Language

    return {language.iso_code_639_1.name.lower(): language for language in
            (Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.ITALIAN, Language.DUTCH,
             Language.PORTUGUESE)}
