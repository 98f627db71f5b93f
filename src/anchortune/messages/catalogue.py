"""The catalogue itself (catalogue.yaml beside this module): sentences by key in English and German, terms (single
words and phrases, such as metric and verdict names), and the translation of a stored English text.

A template's placeholders ({name}) match any text in the English; the German places the same values, each
translated in turn (a term, a catalogue sentence, or a text whose numbers are written the German way). A text
no template matches whole is split into its lines and its '; '-joined parts, each translated; what still matches
nothing stays as it is (`untranslated` finds catalogue English left in a text: the tests' check of the pages).

A word that depends on a count is written `{n|one|other}` in a template ('{n} {n|problem|problems}', German
'{n} {n|Problem|Probleme}'): the form for exactly one or for any other count of the placeholder n, in each
language by its own grammar; a stored English text is matched in either form.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from anchortune.messages.numbers import localise_numbers

LANGUAGES = ("en", "de")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CHOICE = re.compile(r"\{(\w+)\|([^{}|]*)\|([^{}|]*)\}")  # {n|one|other}: a word's form by the count in n
# placeholders whose values are the user's own text (labels, file names, prompts): shown as they are, never translated
RAW = frozenset({"label", "labels", "top", "text", "tail", "name", "model", "file", "prompt", "answer", "fields",
                 "id", "job", "host", "origin", "detail", "others", "other", "method", "names", "words"})
# placeholders that hold one number (no space in it): '{loss} (near chance' cannot swallow the text after it
NUMBERS = frozenset({"loss", "accuracy", "value", "share", "step", "max", "ratio", "times", "final", "best", "drift",
                     "points", "bound", "gain", "before", "after", "tuned", "base", "trivial", "agree", "wrong",
                     "closed", "score", "fence", "pos", "total", "limit", "needed", "n", "k", "scale", "healthy",
                     "weight", "line", "better", "memory", "weights", "state", "activations", "available",
                     "other_line", "alike", "pair", "fit", "random", "distance", "reward", "margin", "low", "high", "name_tuned", "name_base", "valid", "plain",
                     "plain_base"})
_BULLET = re.compile(r"^(\s*(?:(?:[-*•]|\d+\.)\s+)?)(.*?)(\s*)$", re.S)


@lru_cache(maxsize=1)
def _catalogue() -> dict:
    text = resources.files("anchortune.messages").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for key, entry in data["sentences"].items():
        if set(entry) != set(LANGUAGES):
            raise ValueError(f"message {key}: expected {', '.join(LANGUAGES)}")
        if set(_PLACEHOLDER.findall(entry["en"])) != set(_PLACEHOLDER.findall(entry["de"])):
            raise ValueError(f"message {key}: the German places other values than the English")
        for lang in LANGUAGES:
            counts = {match.group(1) for match in _CHOICE.finditer(entry[lang])}
            if not counts <= set(_PLACEHOLDER.findall(entry[lang])):
                raise ValueError(f"message {key}: a word's form ({lang}) depends on a value the sentence does not place")
    return data


@lru_cache(maxsize=1)
def help_texts() -> dict[str, str]:
    """The command line's --help texts (help.yaml beside this module): English text -> German."""
    text = resources.files("anchortune.messages").joinpath("help.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def sentences() -> dict[str, dict[str, str]]:
    """key -> {"en": template, "de": template} for every catalogue sentence."""
    return _catalogue()["sentences"]


def terms() -> dict[str, str]:
    """English term -> German term."""
    return _catalogue()["terms"]


def template(key: str, lang: str = "en") -> str:
    return sentences()[key][lang]


def say(key: str, **values) -> str:
    """The English sentence `key` with its values filled in (each value as str())."""
    return fill(template(key), {k: str(v) for k, v in values.items()})


def fill(text: str, values: dict, shown: dict | None = None) -> str:
    """A template with its values: each `{n|one|other}` the form the count in `values[n]` takes, then every
    placeholder from `shown` (the values as written, translated; default `values`)."""
    return _CHOICE.sub(lambda m: m.group(2) if is_one(values.get(m.group(1))) else m.group(3), text).format(
        **(values if shown is None else shown))


def is_one(value) -> bool:
    """Whether a count (a number, or an English-written one such as '1' or '1.0') is exactly one."""
    try:
        return float(str(value).replace(",", "").strip()) == 1
    except ValueError:
        return False


def say_in(key: str, lang: str, **values) -> str:
    """The sentence `key` in `lang` with its values filled in: the user's own text (RAW placeholders) as it is, every
    other value translated in turn (a term, a catalogue sentence, numbers written the language's way)."""
    if lang == "en" or lang not in LANGUAGES:
        return say(key, **values)
    return fill(template(key, lang), values, {k: str(v) if k in RAW else translate(str(v), lang)
                                              for k, v in values.items()})


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern, str, str]]:
    """(compiled English template, key, its literal text) for every sentence, the most specific first."""
    out = []
    for key, entry in sentences().items():
        english = entry["en"]
        literal = _PLACEHOLDER.sub("", _CHOICE.sub(r"\3", english))
        if not matchable(english):  # '{a}: {b}' would match any text: not a sentence
            continue
        parts, last, seen = [], 0, set()
        for match in _PLACEHOLDER.finditer(english):
            parts.append(_literal(english[last:match.start()]))
            name = match.group(1)
            final = match.end() == len(english)  # only a sentence's last value may hold '; ' (joined reasons)
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^\\s;]+?)" if name in NUMBERS else
                         f"(?P<{name}>.+?)" if final else f"(?P<{name}>(?:(?!; ).)+?)")
            seen.add(name)
            last = match.end()
        parts.append(_literal(english[last:]))
        out.append((re.compile("^" + "".join(parts) + "$", re.S), key, literal))
    return sorted(out, key=lambda item: -len(item[2]))


def _literal(text: str) -> str:
    """A template's text between placeholders as a pattern: either form of each `{n|one|other}`."""
    parts, last = [], 0
    for match in _CHOICE.finditer(text):
        parts += [re.escape(text[last:match.start()]),
                  "(?:" + "|".join(re.escape(f) for f in sorted(match.groups()[1:], key=len, reverse=True)) + ")"]
        last = match.end()
    return "".join(parts) + re.escape(text[last:])


def matchable(english: str) -> bool:
    """Whether a template has words enough to be found in a text (labels like 'step {step}' are used by key)."""
    return len(_PLACEHOLDER.sub("", _CHOICE.sub(r"\3", english)).replace(" ", "")) >= 6


def _match(text: str) -> tuple[str, dict] | None:
    for pattern, key, _ in _patterns():
        found = pattern.match(text)
        if found:
            return key, found.groupdict()
    return None


@lru_cache(maxsize=8192)
def translate(text: str, lang: str) -> str:
    """A stored English text in `lang` (see the module docstring); English and unknown languages as they are."""
    if lang == "en" or lang not in LANGUAGES or not text:
        return text
    if "\n" in text:
        return "\n".join(translate(line, lang) for line in text.split("\n"))
    lead, body, tail = _BULLET.match(text).groups()
    if body != text:
        return lead + translate(body, lang) + tail if body else text
    return _one(text, lang)


def _one(text: str, lang: str) -> str:
    words = terms()
    if text in words:
        return words[text]
    if text[:1].isupper() and text[:1].lower() + text[1:] in words:
        found = words[text[:1].lower() + text[1:]]
        return found[:1].upper() + found[1:]
    matched = _match(text) or (_match(text[:1].lower() + text[1:]) if text[:1].isupper() else None)
    if matched:
        key, values = matched
        german = fill(template(key, lang), values, {k: v if k in RAW else _one(v, lang) for k, v in values.items()})
        return german[:1].upper() + german[1:] if text[:1].isupper() else german
    stripped = text.rstrip(".")
    if stripped != text and stripped:
        return _one(stripped, lang) + text[len(stripped):]
    for separator in ("; ", ", "):
        if separator in text:
            parts = text.split(separator)
            translated = _joined(parts, separator, lang)
            if translated != parts:
                return separator.join(translated)
    return localise_numbers(text, lang)


def _joined(parts: list[str], separator: str, lang: str) -> list[str]:
    """Each part translated, where the longest run of parts that is one sentence (a sentence may hold the
    separator itself: '36 examples; the support task needs ...') is taken whole."""
    out, i = [], 0
    while i < len(parts):
        for j in range(len(parts), i + 1, -1):
            run = separator.join(parts[i:j])
            if _match(run) or run in terms():
                out.append(_one(run, lang))
                i = j
                break
        else:
            out.append(_one(parts[i], lang))
            i += 1
    return out


def untranslated(text: str) -> list[str]:
    """Keys of catalogue sentences whose English (with any values) appears in `text`, and English terms of more
    than one word: what a page in another language must not show."""
    found = []
    for key, entry in sentences().items():
        english = entry["en"]
        chunks = [c.strip() for c in re.split(r"\{[^{}]*\}", english) if len(c.strip().split()) >= 3]
        if not chunks:
            continue
        pattern = ".{0,200}?".join(re.escape(c) for c in chunks)
        if re.search(pattern, text, re.S):
            found.append(key)
    return found
