"""A second defect injector for bench/quality_gate.py, written apart from its first (`inject`) and from the gate's
rules, so the gate is also measured on defects it was not tuned on.

How it differs from the first:
- exact copies carry surface variants a person does not see as new text: another letter case, doubled or
  non-breaking spaces, a changed final punctuation mark, typographic apostrophes and full-width letters (Unicode
  compatibility forms);
- near copies carry keyboard typos (a neighbouring key, a dropped or doubled letter, two letters swapped) in
  prompt and answer, and sometimes one filler word more or less;
- contradictions ask the same question again (case and final punctuation changed) and answer it with a fluent
  answer of *another intent* (support) or another receipt's fields (invoice), and carry no label;
- off-task rows are WikiText sentences turned into a prompt and its continuation (support), or support
  questions answered in JSON (invoice: on format, off topic);
- unclear answers are keyboard mash, symbol runs, mojibake (UTF-8 read as Windows-1252) or an answer cut in the
  middle of a word; in JSON, one text field turned to mash;
- personal data are a person's details written into the row: an e-mail, an IBAN without spaces, a card number
  with dashes, a GitHub token; on receipts, in a customer line at the end.
Same contract as `inject`: (rows renumbered 1..n, {line: defect}, lines of copied originals).
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from pathlib import Path

from anchortune.data.records import AnchorPoint

KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEIGHBOURS = {}
for r, row in enumerate(KEYBOARD):
    for c, ch in enumerate(row):
        near = [row[c - 1] if c else "", row[c + 1] if c + 1 < len(row) else ""]
        near += [KEYBOARD[r2][c] for r2 in (r - 1, r + 1) if 0 <= r2 < 3 and c < len(KEYBOARD[r2])]
        NEIGHBOURS[ch] = "".join(near)
FILLERS = ["please", "just", "really", "kindly"]


def _point(prompt: str, answer: str, label=None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


def surface_variant(text: str, rng: random.Random) -> str:
    """The same text to a reader: case, spacing, final punctuation or Unicode compatibility forms changed."""
    how = rng.choice(["case", "space", "punct", "unicode"])
    if how == "case":
        return rng.choice([text.upper(), text.lower(), text.swapcase(), text[:1].upper() + text[1:].lower()])
    if how == "space":
        words = text.split(" ")
        i = rng.randrange(len(words))
        return " ".join(words[:i]) + rng.choice(["  ", "\u00a0", " \t "]) + " ".join(words[i:]) + rng.choice(["", " "])
    if how == "punct":
        stripped = text.rstrip(" .!?")
        return stripped + rng.choice(["", "?", "!", ".", "..."])
    full = "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" and rng.random() < 0.15 else c for c in text)
    return full.replace("'", "\u2019")


def keyboard_typo(text: str, rng: random.Random) -> str:
    """One keyboard slip in a word of four or more letters."""
    spans = [m.span() for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not spans:
        return text + rng.choice([" pls", " thx"])
    start, end = rng.choice(spans)
    word = text[start:end]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["near", "drop", "double", "swap"])
    if kind == "near" and word[i].lower() in NEIGHBOURS:
        word = word[:i] + rng.choice(NEIGHBOURS[word[i].lower()]) + word[i + 1:]
    elif kind == "drop":
        word = word[:i] + word[i + 1:]
    elif kind == "double":
        word = word[:i] + word[i] + word[i:]
    else:
        word = word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
    return text[:start] + word + text[end:]


def near_variant(text: str, rng: random.Random) -> str:
    text = keyboard_typo(text, rng)
    if rng.random() < 0.3:
        words = text.split(" ")
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLERS))
        text = " ".join(words)
    return text


def mash(rng: random.Random) -> str:
    rows = KEYBOARD + ["1234567890"]
    chunks = []
    for _ in range(rng.randint(4, 9)):
        row = rng.choice(rows)
        start = rng.randrange(len(row) - 3)
        chunks.append(row[start:start + 4])
    return " ".join(chunks)


def junk(rng: random.Random) -> str:
    return "".join(rng.choice(["}}}}", "{{{{", "####", "%%", "^^^", "|||", "~~~"]) for _ in range(rng.randint(3, 6)))


def mojibake(text: str) -> str:
    """Text as a program that read UTF-8 as Windows-1252 shows it (quotes and dashes typographic first)."""
    typographic = text.replace("'", "\u2019").replace(" - ", " \u2013 ").replace('"', "\u201c")
    if typographic == text:
        typographic = text + " \u2013 caf\u00e9 \u2019"
    return typographic.encode("utf-8").decode("cp1252", errors="replace")


def cut_mid_word(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) < 6:
        return text[: max(1, len(text) // 2)]
    keep = rng.randint(len(words) // 3, len(words) - 2)
    half = words[keep][: max(1, len(words[keep]) // 2)]
    return " ".join(words[:keep] + [half])


def person_details(rng: random.Random) -> str:
    first = rng.choice(["maria", "tomasz", "aiko", "pedro", "fatima"])
    last = rng.choice(["kowalski", "santos", "okafor", "lindqvist"])
    return rng.choice([
        f"you can reach me at {first}_{last}{rng.randint(10, 99)}@example.net",
        "refund to my account DE44500105175407324931",
        f"my card is 4012-8888-8888-1881 ({first.title()} {last.title()})",
        "token ghp_" + "".join(rng.choice("ABCDEFGHabcdefgh0123456789") for _ in range(36)),
        f"{first}.{last}@example.org is my private mail",
    ])


def wikitext_pairs(shared: Path) -> list[tuple[str, str]]:
    text = (shared / "general" / "wikitext2_excerpt.txt").read_text(encoding="utf-8")
    sentences = [s.strip() for s in re.split(r"(?<=\.) ", text) if 60 < len(s.strip()) < 300 and "=" not in s]
    return [(f"Continue: {a}", b) for a, b in zip(sentences[0::2], sentences[1::2])]


def support_json_pairs(shared: Path) -> list[tuple[str, str]]:
    rows = [json.loads(l) for l in (shared / "support" / "bitext_customer_support.jsonl").open(encoding="utf-8")]
    return [(r["instruction"], json.dumps({"company": r["intent"].replace("_", " "), "date": "", "address": "",
                                           "total": ""})) for r in rows[-400:]]


def inject_b(points: list[AnchorPoint], fmt: str, rate: float, seed: int, shared: Path, keep_labels: bool = True
             ) -> tuple[list[AnchorPoint], dict[int, str], set[int]]:
    rng = random.Random(seed * 7919 + 13)
    n = len(points)
    per_kind = max(5, round(rate * n))
    kinds = ["exact_duplicate", "near_duplicate", "contradiction", "off_task", "unclear_answer", "personal_data"]
    touched: set[int] = set()  # originals that are copied or changed: each at most once
    changed: dict[int, tuple[AnchorPoint, str]] = {}
    added: list[tuple[int, AnchorPoint, str, int | None]] = []  # (insert after original index, row, defect, copy of)
    outside = wikitext_pairs(shared) if fmt != "json" else support_json_pairs(shared)
    rng.shuffle(outside)
    by_answer_group = {}
    for i, p in enumerate(points):
        by_answer_group.setdefault(p.label or _answer_key(p.answer, fmt), []).append(i)

    def fresh() -> int:
        while True:
            i = rng.randrange(n)
            if i not in touched:
                touched.add(i)
                return i

    for kind in kinds:
        for _ in range(per_kind):
            i = fresh()
            src = points[i]
            if kind == "exact_duplicate":
                row = _point(surface_variant(src.prompt, rng), src.answer if fmt == "json"
                             else surface_variant(src.answer, rng), src.label)
                added.append((rng.randrange(i, n), row, kind, i))
            elif kind == "near_duplicate":
                answer = src.answer if fmt == "json" else near_variant(src.answer, rng)
                added.append((rng.randrange(i, n), _point(near_variant(src.prompt, rng), answer, src.label), kind, i))
            elif kind == "contradiction":
                group = src.label or _answer_key(src.answer, fmt)
                others = [k for g, ks in by_answer_group.items() if g != group for k in ks]
                other = points[rng.choice(others)]
                prompt = surface_variant(src.prompt, rng) if rng.random() < 0.5 else src.prompt.rstrip(".?! ") + "?"
                answer = _other_receipt(src.answer, other.answer) if fmt == "json" else other.answer
                added.append((rng.randrange(i, n), _point(prompt, answer, None), kind, i))
            elif kind == "off_task":
                prompt, answer = outside.pop()
                touched.discard(i)
                added.append((rng.randrange(n), _point(prompt, answer, None if not keep_labels else src.label), kind,
                              None))
            elif kind == "unclear_answer":
                changed[i] = (_unclear(src, fmt, rng), kind)
            else:
                details = person_details(rng)
                if fmt == "json":
                    changed[i] = (_point(src.prompt + "\nCUSTOMER: " + details, src.answer, src.label), kind)
                else:
                    changed[i] = (_point(src.prompt, src.answer.rstrip() + " " + details[0].upper() + details[1:] + ".",
                                         src.label), kind)
    rows: list[tuple[AnchorPoint, str | None, int | None, int | None]] = []
    after: dict[int, list] = {}
    for position, row, kind, source in added:
        after.setdefault(position, []).append((row, kind, source))
    for i, p in enumerate(points):
        row, kind = changed.get(i, (p, None))
        rows.append((row, kind, None, i))
        for extra_row, extra_kind, source in after.get(i, []):
            rows.append((extra_row, extra_kind, source, None))
    line_of = {base: n for n, (_, _, _, base) in enumerate(rows, start=1) if base is not None}
    out = [AnchorPoint(row.messages, n, row.label if keep_labels else None) for n, (row, _, _, _) in
           enumerate(rows, start=1)]
    defects = {n: kind for n, (_, kind, _, _) in enumerate(rows, start=1) if kind}
    partners = {line_of[source] for _, _, source, _ in rows if source is not None}
    return out, defects, partners


def _answer_key(answer: str, fmt: str) -> str:
    """Rows without labels grouped by their answer's first words: answers of one intent open alike."""
    if fmt == "json":
        return answer
    return " ".join(unicodedata.normalize("NFKC", answer).lower().split()[:4])


def _other_receipt(mine: str, theirs: str) -> str:
    fields, other = json.loads(mine), json.loads(theirs)
    for key in ("company", "total"):
        if key in other:
            fields[key] = other[key]
    return json.dumps(fields, ensure_ascii=False)


def _unclear(src: AnchorPoint, fmt: str, rng: random.Random) -> AnchorPoint:
    if fmt == "json":
        fields = json.loads(src.answer)
        key = rng.choice([k for k, v in fields.items() if isinstance(v, str) and len(v) > 3] or list(fields))
        fields[key] = rng.choice([mash(rng), junk(rng)])
        return _point(src.prompt, json.dumps(fields, ensure_ascii=False), src.label)
    how = rng.choice(["mash", "junk", "mojibake", "cut"])
    answer = {"mash": lambda: mash(rng), "junk": lambda: junk(rng), "mojibake": lambda: mojibake(src.answer),
              "cut": lambda: cut_mid_word(src.answer, rng)}[how]()
    return _point(src.prompt, answer, src.label)
