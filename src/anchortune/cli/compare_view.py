"""`anchortune compare` on the terminal: one column per run and one row per fact (data version, the settings that
differ, curves as sparklines, task metric with its difference against the first run, general ability, verdict),
then each run's full data SHA-256 and the task metric's differences as lines that a script can read. Every label
and line comes from the messages catalogue, in English or German (`--lang`); run names and settings' names are
shown as they are."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from anchortune.messages import fill, format_number, localise_numbers, template, translate

SPARK = "▁▂▃▄▅▆▇█"


def show(console, result: dict, lang: str = "en") -> None:
    runs = result["runs"]
    table = Table("", *[escape(r["name"]) for r in runs])
    table.columns[0].no_wrap = True

    def say(key: str, **values) -> str:
        return fill(template(key, lang), values)

    def num(value, digits: int = 4) -> str:
        return format_number(value, lang, digits) if isinstance(value, float) else "–" if value is None else str(value)

    def row(key: str, values) -> None:
        table.add_row(say(key), *[escape(str(v)) for v in values])

    row("compare_row_data_file", [r["data"]["file"] for r in runs])
    row("compare_row_sha256", [r["data"]["sha256"][:12] if r["data"]["sha256"] else "–" for r in runs])
    row("compare_row_rows", [num(r["data"]["rows"]) for r in runs])
    row("compare_row_gate", [translate((r["gate"] or {}).get("verdict") or "not judged", lang) for r in runs])
    row("compare_row_fix", [say("compare_fix_moved", dropped=r["fix"]["dropped"], set_aside=r["fix"]["set_aside"])
                            if r["fix"] else "–" for r in runs])
    for key in result["settings_differ"]:
        table.add_row(f"{key} *", *[escape(localise_numbers(str(r["settings"].get(key)), lang)) for r in runs])
    row("compare_row_steps", [num(r["steps"]) for r in runs])
    row("compare_row_valid_curve", [_curve(r["curves"]["valid"], lang) for r in runs])
    row("compare_row_held_out", [f"{num(r['losses']['base_valid'])} -> {num(r['losses']['tuned_valid'])}"
                                 for r in runs])
    row("compare_row_metric", [_metric(r["task_metric"], lang) for r in runs])
    row("compare_row_text", [f"{num(r['general']['base_text'])} -> {num(r['general']['tuned_text'])}" for r in runs])
    row("compare_row_cloze", [f"{_percent(r['general']['base_cloze'], lang)} -> "
                              f"{_percent(r['general']['tuned_cloze'], lang)}" for r in runs])
    row("compare_row_verdict", [translate(r["verdict"]["verdict"], lang) if r["verdict"]["verdict"] else "–"
                                for r in runs])
    row("compare_row_guard", [translate(r["verdict"]["guard"], lang) if r["verdict"]["guard"] else "–" for r in runs])
    row("compare_row_tracked", [_tracked(r["tracking"], lang) for r in runs])
    console.print(table)
    differ = ", ".join(result["settings_differ"])
    console.print(say("compare_settings_differ", names=differ) if differ else say("compare_settings_same"),
                  highlight=False, markup=False)
    for run in runs:
        console.print(say("compare_data_of", name=run["name"], digest=run["data"]["sha256"]), highlight=False,
                      markup=False)
    first = runs[0]
    for run in runs[1:]:
        metric = run["task_metric"]
        if metric["difference"] is not None:
            console.print(say("compare_metric_difference", metric=translate(metric["metric"], lang), name=run["name"],
                              reference=first["name"], difference=format_number(metric["difference"], lang, 4,
                                                                                sign=True)),
                          highlight=False, markup=False)


def _percent(value, lang: str) -> str:
    return format_number(value, lang, 0, percent=True)


def _metric(metric: dict, lang: str) -> str:
    if metric["tuned"] is None:
        return "–"
    shown = f"{translate(metric['metric'], lang)} {format_number(metric['tuned'], lang, 4)}"
    return shown + (f" ({format_number(metric['difference'], lang, 4, sign=True)})" if metric.get("difference") else "")


def _curve(points: list, lang: str) -> str:
    """A sparkline of a loss curve, with its first and last value."""
    if not points:
        return "–"
    values = [p[1] for p in points]
    lo, hi = min(values), max(values)
    line = "".join(SPARK[int((v - lo) / (hi - lo) * (len(SPARK) - 1)) if hi > lo else 0] for v in values)
    return f"{line} {format_number(values[0], lang, 3)} -> {format_number(values[-1], lang, 3)}"


def _tracked(where: dict | None, lang: str) -> str:
    if not where:
        return "–"
    if where["backend"] == "mlflow":
        return template("compare_tracked_mlflow", lang).format(experiment=where["experiment"], run=where["run_id"][:8])
    return template("compare_tracked_tensorboard", lang).format(folder=where["folder"])
