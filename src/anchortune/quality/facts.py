"""What two answers to one request disagree on: the spans where two texts that say almost the same thing state a
different fact (a number, an amount or "free", a date, a duration, when something holds, yes or no, a statement negated or turned
to its opposite),
as opposed to a rewording. Pure functions over strings; knows nothing about rows, findings or embeddings.

Word-level diff (difflib) of the two texts; each differing stretch is a conflict when it changes a number (digits
compared, so "30" against "14" conflicts and "30" against "thirty" does not), adds or drops a negation ("can" ->
"cannot", "is free" -> "is not free"), swaps yes and no, or swaps a word for its opposite from a short list of policy
words (free / charged, before / after, refundable / non-refundable). A synonym swap ("order" -> "purchase") is not one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)?|[$€£¥%]|\{\{[^{}]*\}\}")
NEGATIONS = frozenset("not no never cannot can't cant won't wont don't dont doesn't doesnt isn't isnt aren't arent "
                      "wasn't weren't shouldn't mustn't unable without non nicht kein keine nie".split())
NEGATED_FORMS = {"cannot": "can", "can't": "can", "won't": "will", "don't": "do", "doesn't": "does", "isn't": "is",
                 "aren't": "are", "wasn't": "was", "weren't": "were", "shouldn't": "should", "mustn't": "must"}
AUXILIARIES = frozenset({"do", "does", "did"})  # "we offer" -> "we do not offer": the "do" comes with the "not"
OPPOSITES = [("yes", "no"), ("free", "charged"), ("free", "paid"), ("free", "chargeable"), ("before", "after"),
             ("within", "after"), ("refundable", "nonrefundable"), ("possible", "impossible"), ("allowed", "forbidden"),
             ("allowed", "prohibited"), ("always", "never"), ("included", "excluded"), ("available", "unavailable"),
             ("accept", "reject"), ("accept", "decline"), ("accepted", "rejected"), ("accepted", "declined"),
             ("increase", "decrease"), ("more", "less"), ("maximum", "minimum"), ("earliest", "latest"),
             ("open", "closed"), ("required", "optional"), ("mandatory", "optional"), ("eligible", "ineligible"),
             ("able", "unable"), ("enabled", "disabled")]  # negated forms (can / cannot) are `_kind`'s negations
OPPOSITE = {frozenset(pair) for pair in OPPOSITES}
CONTEXT = 2  # words of context shown on each side of a differing span
FACT_WORDS = 6  # the most words on either side of one differing stretch that can still be one changed fact


@dataclass(frozen=True)
class Conflict:
    """One differing fact: its kind ('number', 'negation', 'opposite', 'field') and each text's words for it."""

    kind: str
    ours: str
    theirs: str

    def describe(self, our_line: int, their_line: int) -> str:
        return f"line {our_line}: '{self.ours}' — line {their_line}: '{self.theirs}'"


IDENTIFIER_DIGITS = 6  # a run of this many digits is a reference (order, phone, account number), not a quantity


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased word, number and symbol tokens with their places; a number glued to letters ('BK-14126', 'A12')
    or a long digit run is an identifier, not a fact of the answer: it becomes the token '<id>'."""
    for pattern, same in SAME_TIME:
        text = pattern.sub(lambda m: same.ljust(len(m.group())), text)  # same length: places stay the text's
    out = []
    for m in TOKEN.finditer(text):
        token = m.group().casefold().replace("’", "'")
        if token.isdigit() and text[m.end():m.end() + 1] in (".", ")") and \
                text[:m.start()].rstrip(" \t").endswith("\n") | (not text[:m.start()].strip()):
            token = "<item>"  # a list's enumerator ("4. Next to the order"): numbering, not a fact
        elif token[0].isdigit():
            before = text[max(0, m.start() - 2):m.start()]
            glued = (before[-1:].isalpha() or (before[-1:] in "-#" and before[:1].isalpha())
                     or text[m.end():m.end() + 1].isalpha())
            if glued or len(re.sub(r"\D", "", token)) >= IDENTIFIER_DIGITS and token.isdigit():
                token = "<id>"
        out.append((token, m.start(), m.end()))
    return out


FREE = frozenset("free complimentary gratis".split())  # a price's opposite: "$15" against "free of charge"
WHEN = frozenset("monday tuesday wednesday thursday friday saturday sunday weekdays weekends weekend daily weekly "
                 "monthly office business working 24/7".split())  # when something holds: "Monday to Friday" / 24/7
SAME_TIME = [(re.compile(r"(?i)\baround the clock\b|\b24 hours a day\b|\bday and night\b"), "24/7")]


def _facts(words: list[str]) -> list[str]:
    """The fact-bearing words of a stretch: its numbers (as digits), prices' opposites (free) and when-words
    (weekdays, office hours, 24/7)."""
    out = []
    for w in words:
        if w == "24/7" or w in FREE or w in WHEN:
            out.append(w)
        elif any(c.isdigit() for c in w):
            out.append(re.sub(r"\D", "", w))
    return out


def _stem(word: str) -> str:
    """A crude singular / third person: 'applies' -> 'apply', 'charges' -> 'charge' (for 'does not apply')."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _plain(words: list[str]) -> set[str]:
    return {_stem(w) for w in {NEGATED_FORMS.get(w, w) for w in words} - NEGATIONS - AUXILIARIES}


def _kind(left: list[str], right: list[str], given: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
          ) -> str | None:
    """Why one differing stretch is a conflicting fact, or None for a rewording. Where each side's numbers are its own
    question's (`given`: an order number echoed back, '$299' asked and answered), the answers follow two different
    questions and do not conflict; a number one question asks and its answer changes ('$299' asked, '$309' answered
    where another row answers '$299') does. A fact changes in place: a stretch longer than FACT_WORDS on either side
    is text rewritten or added, and a number on one side only is information added, not contradicted."""
    if max(len(left), len(right)) > FACT_WORDS:
        return None
    facts_l, facts_r = _facts(left), _facts(right)
    echoes = all(f in given[0] for f in facts_l if f[0].isdigit()) and all(f in given[1] for f in facts_r if f[0].isdigit())
    if facts_l and facts_r and facts_l != facts_r and not (echoes and given[0] != given[1]):
        return "number" if any(f[0].isdigit() for f in facts_l + facts_r if f != "24/7") else "when"
    negated_l, negated_r = sum(w in NEGATIONS for w in left), sum(w in NEGATIONS for w in right)
    if negated_l != negated_r and _plain(left) == _plain(right):  # "not" added or dropped, nothing else changed
        return "negation"
    if any(frozenset((a, b)) in OPPOSITE for a in left for b in right):
        return "opposite"
    if any(w.startswith("non") and w[3:] in right for w in left) or any(
            w.startswith("non") and w[3:] in left for w in right):
        return "negation"
    return None


def _span(text: str, tokens: list[tuple[str, int, int]], start: int, end: int) -> str:
    """The differing words tokens[start:end] with CONTEXT words either side, as the text writes them."""
    lo, hi = max(0, start - CONTEXT), min(len(tokens), max(end, start) + CONTEXT)
    if lo >= hi:
        return ""
    return " ".join(text[tokens[lo][1]:tokens[hi - 1][2]].split())


STOP = frozenset("the and for you your our with that this can will are was has have not from but any all its".split())


def content_words(text: str) -> set[str]:
    """The text's words of three letters or more that are not function words, lower-cased."""
    return {t for t, _, _ in _tokens(text) if t[0].isalpha() and len(t) >= 3 and t not in STOP}


def follow_questions(ours: str, theirs: str, our_question: str, their_question: str,
                     stock: frozenset[str] = frozenset()) -> bool:
    """Whether two otherwise alike answers differ where their questions differ: a word that only one answer has and
    only its own question names (the kettle of 'is the kettle in stock?'). Such answers are one template filled for
    two different requests, not one answer given twice. Words in `stock` (the data's stock wording: 'assistance',
    'support' in most support answers) name no request: a rewording swaps them in question and answer alike."""
    words = lambda text: content_words(text) - stock
    mine, yours = words(ours), words(theirs)
    asked_mine, asked_yours = words(our_question), words(their_question)
    return bool(((mine - yours) & (asked_mine - asked_yours)) or ((yours - mine) & (asked_yours - asked_mine)))


def given_numbers(*texts: str) -> frozenset[str]:
    """The numbers (as digit strings) the texts carry."""
    return frozenset(re.sub(r"\D", "", m.group()) for text in texts for m in TOKEN.finditer(text)
                     if m.group()[0].isdigit())


def conflicts(ours: str, theirs: str, questions: tuple[str, str] = ("", ""), limit: int = 3) -> list[Conflict]:
    """The facts on which `ours` and `theirs` differ (at most `limit`), first ones first; [] for a rewording.
    `questions`: the two answers' questions, whose own numbers each answer may echo (see `_kind`)."""
    a, b = _tokens(ours), _tokens(theirs)
    given = (given_numbers(questions[0]), given_numbers(questions[1]))
    found: list[Conflict] = []
    matcher = SequenceMatcher(None, [t for t, _, _ in a], [t for t, _, _ in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        kind = _kind([t for t, _, _ in a[i1:i2]], [t for t, _, _ in b[j1:j2]], given)
        if kind:
            found.append(Conflict(kind, _span(ours, a, i1, i2), _span(theirs, b, j1, j2)))
            if len(found) >= limit:
                break
    return found


def field_conflicts(ours: str, theirs: str, same_value) -> list[Conflict]:
    """The fields of two JSON answers whose values differ (`same_value(x, y)` decides equality up to typos)."""
    try:
        fa, fb = json.loads(ours), json.loads(theirs)
    except (json.JSONDecodeError, TypeError):
        return []
    if not isinstance(fa, dict) or not isinstance(fb, dict):
        return []
    return [Conflict("field", f"{k}: {fa[k]}", f"{k}: {fb[k]}") for k in fa
            if k in fb and not same_value(str(fa[k]), str(fb[k]))]


def alike(ours: str, theirs: str) -> float:
    """How much of the two texts' words are the same (difflib ratio over word tokens, 0-1)."""
    a, b = [t for t, _, _ in _tokens(ours)], [t for t, _, _ in _tokens(theirs)]
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()
