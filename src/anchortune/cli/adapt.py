"""The `adapt` command: continued pretraining on raw domain documents (recipes/adapt.py), the balance guard watching
general ability; its run folder is a model `anchortune train --model RUN` starts from. Registered on the
`anchortune` app by cli/main.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from anchortune.cli.console import console, language, line


def adapt(
    documents: List[Path] = typer.Argument(..., help="Documents or folders: .txt, .md, .html, .pdf."),
    model: Optional[str] = typer.Option(None, help="Catalog name, local folder or .gguf (default: the catalog's)."),
    out: Path = typer.Option(Path("runs/adapted"), help="Run folder to create."),
    method: str = typer.Option("lora", help="lora (an adapter, merged into model/) or full."),
    epochs: float = typer.Option(1.0, help="Passes over the documents."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 1e-4)."),
    window: int = typer.Option(256, help="Tokens per training window."),
    seed: int = typer.Option(42, help="Seed of the held-out documents and the data order."),
) -> None:
    """Adapt a model to a domain's language from raw documents (continued pretraining)."""
    from anchortune.app.runs import adapt_run
    from anchortune.cli.progress import ProgressView

    view = ProgressView(console)
    try:
        summary = adapt_run(documents, out, model, method, epochs, lr, window, seed, on_event=view, lang=language())
    finally:
        view.close()
    d, g = summary["domain"], summary["general"]
    plain = {"highlight": False, "markup": False}
    console.print(line("cli_domain_perplexity", before=f"{d['base_perplexity']:.2f}",
                       after=f"{d['tuned_perplexity']:.2f}", base=f"{d['base_loss']:.4f}",
                       tuned=f"{d['tuned_loss']:.4f}"), **plain)
    if g.get("base_text") is not None and g.get("tuned_text") is not None:
        console.print(line("cli_general_text_change", before=f"{g['base_text']:.4f}", after=f"{g['tuned_text']:.4f}",
                           drift=f"{g['tuned_text'] / g['base_text'] - 1:+.1%}"), **plain)
    diagnosis = summary["balance"]["diagnosis"]
    if diagnosis:
        from anchortune.cli.train_command import print_verdict

        print_verdict({**diagnosis, "answers": None, "advice": None})
    console.print(line("cli_adapted_folder", file=out), **plain)
