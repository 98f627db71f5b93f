"""`anchortune compare` on the terminal: one column per run and one row per fact (data version, the settings that
differ, curves as sparklines, task metric with its difference against the first run, general ability, verdict),
then each run's full data SHA-256 and the task metric's differences as lines that a script can read."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

SPARK = "▁▂▃▄▅▆▇█"


def show(console, result: dict) -> None:
    runs = result["runs"]
    table = Table("", *[escape(r["name"]) for r in runs])
    table.columns[0].no_wrap = True

    def row(label: str, values) -> None:
        table.add_row(label, *[escape(str(v)) for v in values])

    row("data file", [r["data"]["file"] for r in runs])
    row("data SHA-256", [r["data"]["sha256"][:12] if r["data"]["sha256"] else "–" for r in runs])
    row("rows", [_value(r["data"]["rows"]) for r in runs])
    row("quality gate", [(r["gate"] or {}).get("verdict", "not judged") for r in runs])
    row("--fix changelog", [f"{r['fix']['dropped']} dropped, {r['fix']['set_aside']} set aside" if r["fix"] else "–"
                            for r in runs])
    for key in result["settings_differ"]:
        row(f"{key} *", [_value(r["settings"].get(key)) for r in runs])
    row("steps", [_value(r["steps"]) for r in runs])
    row("validation loss", [_curve(r["curves"]["valid"]) for r in runs])
    row("held-out loss", [f"{_value(r['losses']['base_valid'])} -> {_value(r['losses']['tuned_valid'])}" for r in runs])
    row("task metric", [_metric(r["task_metric"]) for r in runs])
    row("general text loss", [f"{_value(r['general']['base_text'])} -> {_value(r['general']['tuned_text'])}"
                              for r in runs])
    row("cloze accuracy", [f"{_percent(r['general']['base_cloze'])} -> {_percent(r['general']['tuned_cloze'])}"
                           for r in runs])
    row("verdict", [r["verdict"]["verdict"] or "–" for r in runs])
    row("guard", [r["verdict"]["guard"] or "–" for r in runs])
    row("tracked in", [_tracked(r["tracking"]) for r in runs])
    console.print(table)
    differ = ", ".join(result["settings_differ"])
    console.print(f"settings that differ (*): {differ}" if differ else "the runs' settings are the same",
                  highlight=False, markup=False)
    for run in runs:
        console.print(f"data of {run['name']}: sha256 {run['data']['sha256']}", highlight=False, markup=False)
    first = runs[0]
    for run in runs[1:]:
        metric = run["task_metric"]
        if metric["difference"] is not None:
            console.print(f"task metric {metric['metric']} of {run['name']} against {first['name']}: "
                          f"{metric['difference']:+.4f}", highlight=False, markup=False)


def _value(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _percent(value) -> str:
    return f"{value:.0%}" if value is not None else "–"


def _metric(metric: dict) -> str:
    if metric["tuned"] is None:
        return "–"
    shown = f"{metric['metric']} {metric['tuned']:.4f}"
    return shown + (f" ({metric['difference']:+.4f})" if metric.get("difference") else "")


def _curve(points: list) -> str:
    """A sparkline of a loss curve, with its first and last value."""
    if not points:
        return "–"
    values = [p[1] for p in points]
    lo, hi = min(values), max(values)
    line = "".join(SPARK[int((v - lo) / (hi - lo) * (len(SPARK) - 1)) if hi > lo else 0] for v in values)
    return f"{line} {values[0]:.3f} -> {values[-1]:.3f}"


def _tracked(where: dict | None) -> str:
    if not where:
        return "–"
    if where["backend"] == "mlflow":
        return f"MLflow {where['experiment']} / {where['run_id'][:8]}"
    return f"TensorBoard {where['folder']}/"
