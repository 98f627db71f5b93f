"""The command line's own help in the user's language: every command's and option's --help text, and the words of
the help screen around them (Usage:, [OPTIONS], COMMAND [ARGS]..., Options, Arguments, Commands, [default: ...],
[required]), German where the language is German (messages/help.yaml, English text -> German), English otherwise.

`in_language` walks the command tree Typer built for this process and sets each text from its English original;
it runs once before the command line is read (the environment's language) and again when --lang is read (an eager
option, so `anchortune --lang de train --help` is German).
"""

from __future__ import annotations

import typer
from rich.markup import escape
from typer import rich_utils

from anchortune.messages import help_texts, template

# the help screen's own words: the attribute of typer.rich_utils, its German (its English is what Typer has)
FRAME = {"ARGUMENTS_PANEL_TITLE": "Argumente", "OPTIONS_PANEL_TITLE": "Optionen", "COMMANDS_PANEL_TITLE": "Befehle",
         "DEFAULT_STRING": "[Vorgabe: {}]", "REQUIRED_LONG_STRING": "[erforderlich]",
         "ENVVAR_STRING": "[Umgebungsvariable: {}]", "DEPRECATED_STRING": "(veraltet) "}
_ENGLISH_FRAME = {name: getattr(rich_utils, name) for name in FRAME}
_ORIGINAL = "_anchortune_english"  # where each object keeps its English text, set on first translation
# the usage line's placeholders (Click's English, Command.options_metavar and Group.subcommand_metavar): German
METAVARS = {"[OPTIONS]": "[OPTIONEN]", "COMMAND [ARGS]...": "BEFEHL [ARGUMENTE]..."}


class _UsageFormatter(typer.Context.formatter_class):
    """Click's help formatter, its usage line begun in the help's language ('Usage: ', 'Aufruf: ')."""

    prefix: str | None = None  # None: Click's own

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, self.prefix if prefix is None else prefix)


def in_language(command, lang: str) -> None:
    """Every help text of `command` and its subcommands in `lang` (a text with no German stays English)."""
    german = help_texts() if lang == "de" else {}
    for name, text in FRAME.items():
        setattr(rich_utils, name, text if lang == "de" else _ENGLISH_FRAME[name])
    names = command.context_settings.get("help_option_names")  # the root's, which every subcommand inherits
    _UsageFormatter.prefix = template("cli_usage", lang).format(text="") if lang == "de" else None
    for each in _commands(command):
        each.context_class.formatter_class = _UsageFormatter  # the contexts Click makes for it from now on
        _set(each, ("help", "short_help", "epilog"), german)
        _set_metavars(each, lang)
        # made now (and kept, with the names it will answer to), so its text is set too
        helper = each.get_help_option(typer.Context(each, help_option_names=names))
        for param in [*each.params, *([helper] if helper is not None else [])]:
            _set(param, ("help",), german)


def _set_metavars(command, lang: str) -> None:
    """The usage line's [OPTIONS] and COMMAND [ARGS]... in `lang` (kept in English beside, as `_set` keeps texts)."""
    fields = [f for f in ("options_metavar", "subcommand_metavar") if getattr(command, f, None)]
    originals = getattr(command, _ORIGINAL + "_metavars", None)
    if originals is None:
        originals = {f: getattr(command, f) for f in fields}
        setattr(command, _ORIGINAL + "_metavars", originals)
    for field, english in originals.items():
        setattr(command, field, METAVARS.get(english, english) if lang == "de" else english)


def _commands(command):
    yield command
    for sub in (getattr(command, "commands", None) or {}).values():
        yield from _commands(sub)


def _set(thing, fields: tuple[str, ...], german: dict[str, str]) -> None:
    originals = getattr(thing, _ORIGINAL, None)
    if originals is None:
        originals = {f: getattr(thing, f, None) for f in fields}
        setattr(thing, _ORIGINAL, originals)
    for field, english in originals.items():
        if english:  # as text, not Rich markup: "pip install 'anchortune[track]'" keeps its brackets
            setattr(thing, field, escape(german.get(english, english)))
