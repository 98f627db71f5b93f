"""The generated-message catalogue: every sentence has its German with the same values, a stored English sentence
comes back in German whole (its values in place, numbers with a decimal comma), joined sentences and lines too, and
text that is no catalogue sentence stays as it is."""

from __future__ import annotations

import re

import pytest

from anchortune.messages import fill, format_number, localise_numbers, say, sentences, template, translate, untranslated
from anchortune.messages.catalogue import NUMBERS, RAW, matchable

PLACEHOLDER = re.compile(r"\{(\w+)\}")


CHOICE = re.compile(r"\{(\w+)\|")


def _values(key: str, count: int = 7) -> dict:
    """Distinct values for a sentence's placeholders: numbers where the catalogue expects one (`count` for those a
    word's form depends on), words otherwise."""
    names = dict.fromkeys(PLACEHOLDER.findall(template(key)))
    counts = set(CHOICE.findall(template(key)))
    return {name: str(count) if name in counts else str(7 + i) if name in NUMBERS else f"x{i}y"
            for i, name in enumerate(names)}


@pytest.mark.parametrize("count", [1, 7])
@pytest.mark.parametrize("key", sorted(k for k, v in sentences().items() if matchable(v["en"])))
def test_every_sentence_comes_back_in_german_with_its_values(key, count):
    if count == 1 and not CHOICE.search(template(key)):
        return  # no word's form depends on a count: the 7 case is the whole test
    values = _values(key, count)
    english = say(key, **values)
    german = translate(english, "de")
    expected = fill(template(key, "de"), values)
    assert german in (expected, expected[:1].upper() + expected[1:]), (english, german)
    assert translate(english, "en") == english


def test_a_word_takes_the_form_its_count_asks_for_in_each_language():
    assert say("e_more_problems", n=1) == "... and 1 more problem"
    assert say("e_more_problems", n=3) == "... and 3 more problems"
    assert translate("... and 1 more problem", "de") == "... und 1 weiteres Problem"
    assert translate("... and 1,200 more problems", "de") == "... und 1.200 weitere Probleme"
    one = say("q_advice_too_long", n=1, limit=512, lines="4")
    assert one == "1 row exceeds 512 tokens (line 4): shorten it or raise --max-length"
    assert translate(one, "de") == "1 Zeile überschreitet 512 Tokens (Zeile 4): kürzen oder --max-length erhöhen"
    assert translate(say("q_advice_too_long", n=2, limit=512, lines="4, 9"), "de") == \
        "2 Zeilen überschreiten 512 Tokens (Zeilen 4, 9): kürzen oder --max-length erhöhen"


def test_values_are_translated_in_turn_and_numbers_written_the_german_way():
    line = say("log_valid_loss_general", step=12, loss="1.2345",
               general=", ".join([say("summary_text", drift="+1.2%"), say("summary_style", drift="+9.0%")]))
    assert translate(line, "de") == "Schritt 12: Validierungsverlust 1,2345, allgemeiner Text +1,2 %, Antwortstil +9,0 %"
    reasons = "; ".join([say("q_one_sided_group", share="93%", top="refund_status"),
                         say("q_too_small_labels", n=72, task="classification", needed=50, small=4)])
    assert translate(reasons, "de") == ("einseitig: 93 % der Beispiele sind „refund_status“; 72 Beispiele; die Aufgabe "
                                        "classification braucht mindestens 50 und 5 je Label (4 Labels haben weniger)")
    advice = "1. " + say("q_advice_exact_duplicate", n=3, lines=say("q_more_lines", list="3, 5", more=4)).capitalize()
    assert translate(advice, "de") == "1. 3 exakte Duplikate entfernen (Zeilen 3, 5 und 4 weitere)"


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


def test_a_value_found_where_another_was_expected_is_named_in_jsons_words():
    from anchortune.messages import json_kind

    assert [json_kind(v) for v in (5, 2.5, "x", [1], {"a": 1}, None, True)] == \
        ["a number", "a number", "a string", "a list", "an object", "null", "true"]
    assert translate(say("d_string", kind=json_kind(5)), "de") == "erwartet war ein String, gefunden: eine Zahl"
    assert translate(say("d_arguments_object", kind=json_kind([1])), "de") == \
        "erwartet waren die Argumente als JSON-Objekt, gefunden: eine Liste"
