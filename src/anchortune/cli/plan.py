"""The `plan` command: how much more data would buy how much, and which anchor points to write next
(recipes/plan.py). Registered on the `anchortune` app by cli/main.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from anchortune.config import RunConfig

console = Console(soft_wrap=True)


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
    with console.status("training on nested subsets") as status:
        result = plan_data(data, task, model, shares, seed, epochs,
                           on_event=lambda e: status.update(e.data.get("message", "")))
    table = Table("anchor points", "held-out answer loss", title=f"{result['data']}: learning curve "
                  f"({result['held_out']} held-out rows, base model {result['base_loss']:.3f})")
    for size, loss in zip(result["sizes"], result["losses"]):
        table.add_row(str(size), f"{loss:.4f}")
    for p in result["predictions"]:
        table.add_row(f"{p['examples']} (predicted)", f"{p['loss']:.4f} ({p['low']:.4f} to {p['high']:.4f})")
    console.print(table)
    check = result.get("backtest")
    if check:
        console.print(f"self-check: from {', '.join(map(str, check['from']))} examples the curve predicted "
                      f"{check['predicted']:.4f} ({check['low']:.4f} to {check['high']:.4f}) at {check['examples']}; "
                      f"measured {check['measured']:.4f}: {check['words'].split(': ', 1)[-1]}", highlight=False)
    now, double = result["losses"][-1], result["predictions"][0]
    console.print(f"twice the data ({double['examples']} anchor points) is predicted to lower the held-out loss by "
                  f"{now - double['loss']:.4f} ({(now - double['loss']) / now:.1%})", highlight=False)
    for s in result["suggestions"]:
        console.print(f"- {s['words']}", highlight=False, markup=False)
    if not result["suggestions"] and result["labels"]:
        console.print("no label with at least 2 held-out rows lags the whole set's held-out loss")
    if result.get("labels_without_a_curve"):
        console.print(f"{len(result['labels_without_a_curve'])} labels have under 2 held-out rows and no curve of "
                      "their own (more data, or a validation file, gives them one)")
    if out:
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        console.print(f"written: {out}")
