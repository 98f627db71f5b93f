"""What the command line prints through: the consoles (stdout, stderr), the language it writes in, markup
escaping, the help of an option from the run settings, the --delimiter option, and a run's own measures as lines
(cli/*.py's commands share them).

The language is English or German: `anchortune --lang de`, else ANCHORTUNE_LANG, else the locale (LC_ALL,
LC_MESSAGES, LANG) where it names German. Every line a command prints is a catalogue sentence (messages/): `line`
writes one in that language; `tr` writes a stored English text (a verdict, a reason, an error) in it.
"""

from __future__ import annotations

from rich.console import Console

from anchortune import settings
from anchortune.config import RunConfig
from anchortune.messages import LANGUAGES, say, say_in, translate

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_chosen: list[str] = []  # the --lang option's value, once given
_told: list[str] = []  # an ANCHORTUNE_LANG naming no language anchortune writes, once said


def choose_language(lang: str | None) -> None:
    """Set the language from --lang (None: from the environment); an unknown one is a user error."""
    from anchortune.errors import ConfigError

    code = _code(lang) if lang else None
    if lang and code not in LANGUAGES:
        raise ConfigError(say("e_lang_choice", text=lang), param="lang")
    _chosen[:] = [code] if code else []


def _code(value: str) -> str:
    """'de' of 'de', 'DE', 'de-DE' or 'de_DE.UTF-8'; the value itself where it names no language so."""
    value = value.strip()
    head = value.replace("-", "_").split("_")[0].split(".")[0].lower()
    return head if head in LANGUAGES or len(head) == 2 else value


def language() -> str:
    """The language the command line writes in (module docstring)."""
    if _chosen:
        return _chosen[0]
    chosen, locale = settings.language_wanted()
    wanted = _code(chosen)
    if wanted in LANGUAGES:
        return wanted
    fallback = "de" if locale.lower().startswith("de") else "en"  # the first locale variable set decides
    if chosen.strip() and not _told:  # said once, not silently ignored
        _told.append(chosen)
        err.print(say_in("cli_lang_env_unknown", fallback, value=chosen, languages=", ".join(LANGUAGES),
                         fallback=fallback), markup=False, highlight=False)
    return fallback


def tr(text: str) -> str:
    """A stored English text (catalogue sentences, terms, numbers) in the command line's language."""
    return translate(str(text), language())


def line(key: str, **values) -> str:
    """The catalogue sentence `key` with its values, in the command line's language: the user's own text (paths,
    names, labels) as it is, every other value translated in turn (terms, sentences, numbers)."""
    return say_in(key, language(), **values)


def option_help(field: str) -> str:
    return RunConfig.model_fields[field].description or ""


def delimiter_option(value: str | None) -> str | None:
    """The --delimiter option: one character, or 'tab' / '\\t' for a tab (hard to type in a shell)."""
    return "\t" if value in ("tab", "\\t", "TAB") else value


def result_lines(found: dict) -> list[str]:
    """A preference or tool-calling run's own measures, base -> tuned, one line each."""
    lines = []
    if (p := found.get("preference")) and p.get("pairs"):
        lines.append(line("cli_preference_result", n=p["pairs"], base=f"{p['base']['preference_accuracy']:.1%}",
                          tuned=f"{p['tuned']['preference_accuracy']:.1%}",
                          accuracy=f"{p['tuned']['reward_accuracy']:.1%}", margin=f"{p['tuned']['reward_margin']:.3f}"))
    if (t := found.get("tool_calls")) and t.get("examples"):
        for key in ("tool_name_accuracy", "argument_exact_match", "schema_validity", "plain_text_when_no_tool"):
            base, tuned = t["base"][key], t["tuned"][key]
            shown = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
            lines.append(line("cli_tool_result", measure=line(f"cli_{key}"), n=t["examples"], base=shown(base),
                              tuned=shown(tuned)))
    return lines


def working(text: str):
    """A spinner with `text` while a long step runs, on a terminal; where the output is piped or redirected (no
    spinner shows), the same line on stderr, and each `update` of it as another, so a log is never silent for
    minutes and stdout keeps only results."""
    if console.is_terminal:
        return console.status(escape(text))
    lines = _Lines()
    lines.update(escape(text))
    return lines


class _Lines:
    """What `working` gives where no spinner shows: each update (Rich markup, as a status takes it) a line on
    stderr."""

    def __enter__(self) -> "_Lines":
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def update(self, text: str) -> None:
        if text:
            err.print(text, highlight=False)


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
