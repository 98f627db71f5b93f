"""The `plan` command: how much more data would buy how much, and which anchor points to write next
(recipes/plan.py). Registered on the `anchortune` app by cli/main.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from anchortune.cli.console import console, escape, line, tr, working
from anchortune.config import RunConfig


def plan(
    data: Path = typer.Argument(..., help="Anchor points (JSONL or CSV)."),
    task: str = typer.Option("custom", help=RunConfig.model_fields["task"].description),
    model: Optional[str] = typer.Option(None, help="Catalog name, local folder or .gguf (default: the catalog's)."),
    fractions: str = typer.Option("0.125,0.25,0.5,1", help="Nested subsets to train on, as shares of the data."),
    epochs: Optional[float] = typer.Option(None, help="Passes over each subset (the preset's by default)."),
    seed: int = typer.Option(42, help="Seed of the held-out split and the subsets."),
    out: Optional[Path] = typer.Option(None, help="Also write the plan as JSON here."),
) -> None:
    """Train on nested subsets, fit the learning curve, and say what more data would buy, per label."""
    from anchortune.app.plan import plan_data
    from anchortune.errors import ConfigError

    try:
        shares = sorted({float(f) for f in fractions.split(",")})
    except ValueError:
        raise ConfigError(f"--fractions '{fractions}': expected numbers such as 0.25,0.5,1") from None
    if not shares or shares[0] <= 0 or shares[-1] > 1:
        raise ConfigError(f"--fractions '{fractions}': every share must lie in (0, 1]")
    with working(line("cli_plan_training")) as status:
        result = plan_data(data, task, model, shares, seed, epochs,
                           on_event=lambda e: status.update(escape(tr(e.data.get("message", "")))))
    table = Table(line("cli_plan_col_points"), line("cli_plan_col_loss"),
                  title=escape(line("cli_plan_title", file=result["data"], n=result["held_out"],
                                    loss=f"{result['base_loss']:.3f}")))
    for size, loss in zip(result["sizes"], result["losses"]):
        table.add_row(str(size), tr(f"{loss:.4f}"))
    for p in result["predictions"]:
        table.add_row(line("cli_plan_predicted", n=p["examples"]),
                      line("cli_plan_interval", loss=f"{p['loss']:.4f}", low=f"{p['low']:.4f}", high=f"{p['high']:.4f}"))
    console.print(table)
    plain = {"highlight": False, "markup": False}
    check = result.get("backtest")
    if check:
        console.print(line("cli_plan_self_check", text=", ".join(map(str, check["from"])),
                           loss=f"{check['predicted']:.4f}", low=f"{check['low']:.4f}", high=f"{check['high']:.4f}",
                           n=check["examples"], value=f"{check['measured']:.4f}",
                           detail=tr(check["words"].split(": ", 1)[-1])), **plain)
    now, double = result["losses"][-1], result["predictions"][0]
    console.print(line("cli_plan_double", n=double["examples"], value=f"{now - double['loss']:.4f}",
                       share=f"{(now - double['loss']) / now:.1%}"), **plain)
    for s in result["suggestions"]:
        console.print(f"- {tr(s['words'])}", **plain)
    if not result["suggestions"] and result["labels"]:
        console.print(line("cli_plan_no_lag"), **plain)
    if result.get("labels_without_a_curve"):
        console.print(line("cli_plan_no_curve", n=len(result["labels_without_a_curve"])), **plain)
    if out:
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        console.print(line("cli_written", file=out), **plain)
