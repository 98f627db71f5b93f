"""The generated-message catalogue: every sentence has its German with the same values, a stored English sentence
comes back in German whole (its values in place, numbers with a decimal comma), joined sentences and lines too, and
text that is no catalogue sentence stays as it is."""

from __future__ import annotations

import re

import pytest

from anchortune.messages import format_number, localise_numbers, say, sentences, template, translate, untranslated
from anchortune.messages.catalogue import NUMBERS, RAW, matchable

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _values(key: str) -> dict:
    """Distinct values for a sentence's placeholders: numbers where the catalogue expects one, words otherwise."""
    names = dict.fromkeys(PLACEHOLDER.findall(template(key)))
    return {name: str(7 + i) if name in NUMBERS else f"x{i}y" for i, name in enumerate(names)}


@pytest.mark.parametrize("key", sorted(k for k, v in sentences().items() if matchable(v["en"])))
def test_every_sentence_comes_back_in_german_with_its_values(key):
    values = _values(key)
    english = say(key, **values)
    german = translate(english, "de")
    assert german == template(key, "de").format(**values) or german == \
        template(key, "de").format(**values)[:1].upper() + template(key, "de").format(**values)[1:], (english, german)
    assert translate(english, "en") == english


def test_values_are_translated_in_turn_and_numbers_written_the_german_way():
    line = say("log_valid_loss_general", step=12, loss="1.2345",
               general=", ".join([say("summary_text", drift="+1.2%"), say("summary_style", drift="+9.0%")]))
    assert translate(line, "de") == "Schritt 12: Validierungsverlust 1,2345, allgemeiner Text +1,2 %, Antwortstil +9,0 %"
    reasons = "; ".join([say("q_one_sided_group", share="93%", top="refund_status"),
                         say("q_too_small_labels", n=72, task="classification", needed=50, small=4)])
    assert translate(reasons, "de") == ("einseitig: 93 % der Beispiele sind „refund_status“; 72 Beispiele; die Aufgabe "
                                        "classification braucht mindestens 50 und 5 je Label (4 Labels haben weniger)")
    advice = "1. " + say("q_advice_exact_duplicate", n=3, lines=say("q_more_lines", list="3, 5", more=4)).capitalize()
    assert translate(advice, "de") == "1. 3 exakte Duplikat(e) entfernen (Zeilen 3, 5 und 4 weitere)"


def test_the_users_own_text_inside_a_sentence_is_never_translated():
    assert "label" in RAW
    text = say("f_label_typo", label="good", other="poor")
    assert translate(text, "de") == "Label „good“ kommt einmal vor und sieht wie ein Tippfehler von „poor“ aus"


def test_what_is_no_catalogue_sentence_stays_and_only_its_numbers_change():
    assert translate("Where is my order 12345?", "de") == "Where is my order 12345?"
    assert localise_numbers("loss 0.5 after 1,234 steps, version 0.1.2", "de") == "loss 0,5 after 1.234 steps, version 0.1.2"


def test_numbers_are_formatted_per_language():
    assert format_number(0.6712, "en") == "0.67" and format_number(0.6712, "de") == "0,67"
    assert format_number(12345.5, "de", 1) == "12.345,5" and format_number(12345.5, "en", 1) == "12,345.5"
    assert format_number(0.52, "en", 0, percent=True) == "52%" and format_number(0.52, "de", 0, percent=True) == "52 %"
    assert format_number(None, "de") == "–"


def test_untranslated_finds_catalogue_english_left_in_a_page():
    page = "Ergebnis " + say("advice_overfitting") + " Ende"
    assert untranslated(page) == ["advice_overfitting"]
    assert untranslated(translate(say("advice_overfitting"), "de")) == []
