"""The generated-message catalogue: every sentence anchortune writes for a person at run time (verdicts, reasons,
advice, log lines, errors, the run report), keyed, in English and German, and numbers written each language's way.

Code that writes such a sentence formats it from the catalogue's English (`say`); a page, the report or any other
reader in another language hands the stored English to `translate`, which finds the template it came from, takes
its values out and writes the German, translating values that are themselves catalogue sentences or terms and
writing their numbers with a decimal comma. Sentences of code that does not use `say` (the quality gate's findings)
are translated the same way from a copy of their English in the catalogue: a new one is added as a new key.
Knows nothing about pages, runs or models.
"""

from anchortune.messages.catalogue import (LANGUAGES, fill, help_texts, say, say_in, sentences, template,
                                           terms, translate, untranslated)
from anchortune.messages.kinds import json_kind
from anchortune.messages.numbers import format_number, localise_numbers

__all__ = ["LANGUAGES", "fill", "format_number", "help_texts", "json_kind", "localise_numbers", "say", "say_in",
           "sentences", "template", "terms", "translate", "untranslated"]
