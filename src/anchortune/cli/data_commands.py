"""The data commands: `validate` (every format problem with file, line and field), `check` (the quality gate's
verdict, reasons and advice; --fix, --json, --html) and `demo-data` (anchortune's own demo sets). Registered on the
`anchortune` app by cli/main.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from anchortune.app import datasets
from anchortune.app.datasets import CsvColumns
from anchortune.cli.console import console, delimiter_option, escape, language, line, option_help, tr, working

def validate(
    data: Path = typer.Argument(..., help="Anchor points: a JSONL or CSV file."),
    input_col: Optional[str] = typer.Option(None, help=option_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=option_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=option_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=option_help("delimiter")),
) -> None:
    """Read anchor points (or preference pairs) and report every format problem with file, line and field."""
    if datasets.is_pair_file(data):
        console.print(line("cli_pairs_count", file=data, n=len(datasets.read_pairs(data))), highlight=False,
                      markup=False)
        return
    points = datasets.read_anchor_points(data, CsvColumns(input_col, output_col, label_col, delimiter_option(delimiter)))
    facts = datasets.describe_data(points)
    console.print(line("cli_points_count", file=data, n=facts["examples"], k=facts["multi_turn"],
                       total=len(facts["labels"])), highlight=False, markup=False)
    if facts["empty_answers"]:
        empty = facts["empty_answers"]
        lines = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        console.print(f"[yellow]{escape(line('cli_empty_answers', n=len(empty), lines=lines))}[/]", highlight=False)


def check(
    data: Path = typer.Argument(..., help="Anchor points: a JSONL or CSV file."),
    task: str = typer.Option("custom", help=option_help("task")),
    model: Optional[str] = typer.Option(None, help="Model whose tokenizer counts tokens (and scores IFD)."),
    description: Optional[str] = typer.Option(None, help="What the task is; rows unrelated to it are flagged."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    fix_out: Optional[Path] = typer.Option(None, "--fix", help="Write a cleaned dataset here (+ review, changelog)."),
    max_length: Optional[int] = typer.Option(None, help=option_help("max_length")),
    max_rows: int = typer.Option(datasets.MAX_ROWS, help="Judge at most this many rows: a larger file is read line "
                                                         "by line and judged on a seeded sample (every row's format "
                                                         "is still checked)."),
    ifd: bool = typer.Option(False, "--ifd", help="Also score whether answers follow from prompts (base model, slower)."),
    input_col: Optional[str] = typer.Option(None, help=option_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=option_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=option_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=option_help("delimiter")),
) -> None:
    """Judge anchor points before training: relevant, diverse, balanced, clear - with reasons and advice."""
    columns = CsvColumns(input_col, output_col, label_col, delimiter_option(delimiter))
    pairs = datasets.is_pair_file(data) and fix_out is None
    with working(line("cli_checking_pairs" if pairs else "cli_checking")):
        if pairs:  # preference pairs: their own gate
            report, written = datasets.check_pairs_file(data, task, model, max_length, json_out, html_out,
                                                        lang=language())
        else:
            report, written = datasets.check_file(data, task, model, description, columns, max_length, ifd,
                                                  json_out, html_out, fix_out, max_rows, lang=language())
    print_report(report, "cli_report_pairs" if pairs else "cli_report")
    for kind, path in written.items():
        console.print(line(f"cli_written_{kind}", file=path), highlight=False, markup=False)


def print_report(report, head: str = "cli_report") -> None:
    """The gate's verdict, its scores over the rows counted as `head` says (examples, or preference pairs), the
    reasons, and the first findings."""
    colour = {"good": "green", "fair": "yellow", "poor": "red"}[report.verdict]
    scores = ", ".join(f"{tr(k)} {v}" for k, v in report.scores.items())
    console.print(f"[bold {colour}]{escape(tr(report.verdict))}[/]: "
                  + escape(line(head, n=report.examples, text=scores)), highlight=False)
    for reason in report.reasons:
        console.print(f"  - {escape(tr(reason))}", highlight=False)
    table = Table(*(line(f"cli_col_{c}") for c in ("line", "severity", "reason", "why")))
    findings = sorted(report.findings, key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.line))
    for f in findings[:15]:
        table.add_row(str(f.line), line(f"cli_severity_{f.severity}"), tr(f.code), escape(tr(f.message)))
    if findings:
        console.print(table)
        if len(findings) > 15:
            console.print(line("cli_more_findings", n=len(findings) - 15), highlight=False, markup=False)
    console.print(f"[bold]{escape(line('cli_what_to_do'))}[/]")
    for i, tip in enumerate(report.advice, 1):
        console.print(f"  {i}. {escape(tr(tip))}", highlight=False)


def demo_data(
    kind: str = typer.Argument(..., help="support or invoice"),
    out: Path = typer.Argument(..., help="JSONL file to write."),
    n: Optional[int] = typer.Option(None, help="support: examples per intent; invoice: number of invoices."),
) -> None:
    """Write one of anchortune's own demo anchor-point sets."""
    path = datasets.write_demo_data(kind, out, n)
    console.print(line("cli_demo_written", name=kind, file=path), highlight=False, markup=False)
