"""The web UI's languages (English, German): message catalogs in locales/, the language a request wants."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "de")
COOKIE = "anchortune_lang"


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    english = yaml.safe_load((Path(__file__).parent / "locales" / "en.yaml").read_text(encoding="utf-8"))
    if language == "en":
        return english
    own = yaml.safe_load((Path(__file__).parent / "locales" / f"{language}.yaml").read_text(encoding="utf-8"))
    return {**english, **own}


def choose(query: str | None, cookie: str | None, accept: str | None) -> str:
    """?lang= first, then the cookie, then the browser's Accept-Language, else English."""
    for value in (query, cookie):
        if value in LANGUAGES:
            return value
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"
