"""What the command line prints through: the consoles (stdout, stderr), markup escaping, the help of an option
from the run settings, the --delimiter option, and a run's own measures as lines (cli/*.py's commands share them).
"""

from __future__ import annotations

from rich.console import Console

from anchortune.config import RunConfig

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def option_help(field: str) -> str:
    return RunConfig.model_fields[field].description or ""


def delimiter_option(value: str | None) -> str | None:
    """The --delimiter option: one character, or 'tab' / '\\t' for a tab (hard to type in a shell)."""
    return "\t" if value in ("tab", "\\t", "TAB") else value


def result_lines(found: dict) -> list[str]:
    """A preference or tool-calling run's own measures, base -> tuned, one line each."""
    lines = []
    if (p := found.get("preference")) and p.get("pairs"):
        lines.append(f"held-out preference accuracy ({p['pairs']} pairs): base {p['base']['preference_accuracy']:.1%} "
                     f"-> tuned {p['tuned']['preference_accuracy']:.1%}; reward accuracy "
                     f"{p['tuned']['reward_accuracy']:.1%}, reward margin {p['tuned']['reward_margin']:.3f}")
    if (t := found.get("tool_calls")) and t.get("examples"):
        for key in ("tool_name_accuracy", "argument_exact_match", "schema_validity", "plain_text_when_no_tool"):
            base, tuned = t["base"][key], t["tuned"][key]
            shown = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
            lines.append(f"{key.replace('_', ' ')} ({t['examples']} held-out conversations): base {shown(base)} -> "
                         f"tuned {shown(tuned)}")
    return lines


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
