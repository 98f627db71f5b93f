"""The `anchortune` command: a few lines per command, each calling one function of the application layer (app/); the
data commands live in cli/data_commands.py, `train` in cli/train_command.py, what they print through in cli/console.py.

User mistakes (AnchortuneError) print as plain lines on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from anchortune.app import chat as app_chat
from anchortune.app import datasets, runs
from anchortune.app import models as app_models
from anchortune.app import compare as app_compare
from anchortune.cli import adapt as adapt_cli
from anchortune.cli import compare_view
from anchortune.cli import plan as plan_cli
from anchortune.cli import data_commands, help_language, stopping, studio, train_command
from anchortune.cli.console import choose_language, console, err, escape, language, line, result_lines, tr, working
from anchortune.cli.progress import ProgressView
from anchortune.config import RunConfig
from anchortune.errors import AnchortuneError

HELP_OPTIONS = {"help_option_names": ["--help", "-h"]}  # -h as most command-line tools take it
app = typer.Typer(help="Fine-tune a small open language model for one job from anchor points.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings=HELP_OPTIONS)
models_app = typer.Typer(help="The built-in model catalog.", no_args_is_help=True, context_settings=HELP_OPTIONS)
app.add_typer(models_app, name="models")


def _lang_read(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """--lang, read before any other option (eager): the language chosen, and the help in it."""
    if value:
        choose_language(value)
        help_language.in_language(ctx.find_root().command, language())
    return value


@app.callback()
def options(lang: Optional[str] = typer.Option(None, "--lang", is_eager=True, callback=_lang_read,
                                               help="The language every command writes in: en or de (default: "
                                                    "ANCHORTUNE_LANG, else the locale).")) -> None:
    """Fine-tune a small open language model for one job from anchor points."""
    choose_language(lang)


@models_app.command("list")
def models_list() -> None:
    """Show the built-in models with size, licence, source package and whether prepared."""
    columns = ("name", "model", "size", "licence", "package", "installed", "prepared")
    yes_no = lambda value: line("cli_yes" if value else "cli_no")  # noqa: E731
    rows = [(line("cli_default_marked", name=row.name) if row.default else row.name, row.title, row.parameters,
             row.licence, row.package, yes_no(row.installed), yes_no(row.prepared))
            for row in app_models.list_models()]
    if console.width < 110:  # a narrow terminal: one block per model, not a table of truncated cells
        for row in rows:
            console.print(f"[bold]{escape(row[0])}[/]", highlight=False)
            for column, value in zip(columns[1:], row[1:]):
                console.print(f"  {escape(line(f'cli_col_{column}'))}: {escape(value)}", highlight=False)
        return
    table = Table(*(line(f"cli_col_{c}") for c in columns))
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(*row)
    console.print(table)


@models_app.command("prepare")
def models_prepare(name: str = typer.Argument(..., help="Catalog name, local .gguf file or HF folder.")) -> None:
    """Turn a packaged GGUF into a cached safetensors folder (once)."""
    with working(line("cli_preparing", name=name)):
        folder = app_models.prepare_model(name)
    console.print(line("cli_ready", name=name, file=folder), highlight=False, markup=False)


app.command()(data_commands.validate)
app.command()(data_commands.check)
app.command()(train_command.train)


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Two or more finished run folders; the first is the reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole comparison as JSON."),
    lang: Optional[str] = typer.Option(None, "--lang", help="The table's language: en or de (default: the "
                                                            "command line's, see anchortune --help)."),
) -> None:
    """Put finished runs side by side: data version, settings, curves, task metric, general ability, verdict."""
    if lang is not None:
        choose_language(lang)
    lang = language()
    result = app_compare.compare_runs(runs)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        return
    compare_view.show(console, result, lang)


@app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="A run folder."),
    data: Optional[Path] = typer.Option(None, help="Held-out anchor points (default: the run's validation split)."),
    general_text: Optional[Path] = typer.Option(None, "--general-text", help="Plain text for general-text loss."),
    choices: Optional[Path] = typer.Option(None, help="Multiple-choice JSONL (question, choices, answer letter)."),
    limit: int = typer.Option(200, help="At most this many held-out examples (and choice items)."),
) -> None:
    """Base versus tuned on held-out data with the task's metric, plus general retention."""
    with working(line("cli_evaluating")):
        result = runs.evaluate_run(run, data, general_text, choices, limit, language())
    base, tuned = result["models"]["base"], result["models"]["tuned"]
    table = Table(line("cli_col_metric"), line("cli_col_base"), line("cli_col_tuned"))
    number = lambda value: tr(f"{value:.4f}")  # noqa: E731
    for key, value in base.items():
        if isinstance(value, (int, float)) and isinstance(tuned.get(key), (int, float)):
            table.add_row(key, number(value), number(tuned[key]))
    console.print(table)
    if result.get("verdict"):
        v, a = result["verdict"], result.get("answers")
        train_command.print_verdict({**v, "answers": None})
        if a:
            console.print(line("cli_eval_answers", metric=a["metric"], tuned=f"{a['tuned']:.3f}", base=f"{a['base']:.3f}",
                               shortcut=a["baseline"]["words"], score=f"{a['baseline']['score']:.3f}",
                               agree=a["agree"]["tuned"], n=a["answers"]), highlight=False, markup=False)
    for said in result_lines(result):
        console.print(said, highlight=False, markup=False)
    for key, change in result.get("retention", {}).items():
        console.print(line("cli_retention_points", name=key, points=f"{change:+.0f}") if key.endswith("_points") else
                      line("cli_retention_share", name=key, share=f"{change:+.1%}"), highlight=False, markup=False)
    if result.get("choices"):
        c = result["choices"]
        console.print(line("cli_choices", base=f"{c['base_accuracy']:.1%}", tuned=f"{c['tuned_accuracy']:.1%}",
                           n=c["right_to_wrong"]), highlight=False, markup=False)
    loop = result.get("next_to_write") or {}
    if loop.get("suggestions"):
        console.print(line("cli_next_to_write", n=len(loop["failing"]), rule=loop["rule"]), highlight=False,
                      markup=False)
        for suggestion in loop["suggestions"]:
            console.print(f"- {tr(suggestion)}", highlight=False, markup=False)
    console.print(line("cli_written", file=f"{Path(run) / 'eval.json'}, {Path(run) / 'eval.md'}"), highlight=False,
                  markup=False)


@app.command("export")
def export(
    run: Path = typer.Argument(..., help="A finished run folder."),
    fmt: str = typer.Option("gguf", "--format", help=", ".join(f"{f.name} ({f.words})" for f in runs.FORMATS) + "."),
    quant: Optional[str] = typer.Option(None, help="; ".join(f"{', '.join(f.quants)} for {f.name} (default "
                                                             f"{f.default_quant or 'as trained'})"
                                                             for f in runs.FORMATS) + "."),
    out: Optional[Path] = typer.Option(None, help="Folder to write (default RUN/exports/FORMAT-QUANT)."),
    data: Optional[Path] = typer.Option(None, help="Held-out anchor points for the parity check (default: the "
                                                   "run's validation split)."),
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Replay held-out prompts through llama.cpp and PyTorch and compare ("
                                    + ", ".join(f.name for f in runs.FORMATS if f.gguf) + ")."),
) -> None:
    """Export a run's model for the tools people run models in, checked against PyTorch."""
    with working(line("cli_exporting", file=run, name=fmt)):
        record = runs.export_run(run, fmt, quant, out, data, check)
    plain = {"highlight": False, "markup": False}
    console.print(line("cli_written", file=record["folder"]), **plain)
    parity = record.get("parity")
    if parity and parity.get("identical_answers") is not None:
        console.print(line("cli_parity", n=parity["prompts"], share=f"{parity['identical_answers']:.0%}",
                           loss=f"{parity['loss_gguf']:.4f}", value=f"{parity['loss_pytorch']:.4f}"), **plain)
    if record["status"] == "failed":
        err.print(line("cli_export_failed", reason=record["reason"]), **plain)
        raise typer.Exit(1)
    if record["status"] == "unchecked":
        console.print(line("cli_not_checked", reason=record["reason"]), **plain)
    elif record["status"] == "passed":
        console.print(line("cli_parity_passed", reason=record["reason"]), **plain)
    if record.get("modelfile"):
        stem = Path(record["file"]).stem
        console.print(line("cli_run_it", text=f"cd {record['folder']} && ollama create {stem} -f Modelfile && "
                                              f"ollama run {stem}"), **plain)


@app.command()
def chat(
    run_or_model: str = typer.Argument(..., help="A run folder or any model name."),
    task: Optional[str] = typer.Option(None, help="Task preset for the system prompt (default: the run's)."),
) -> None:
    """Talk to a model in the terminal (empty line or Ctrl-D ends)."""
    with working(line("cli_loading_model")):
        session = app_chat.open_chat(run_or_model, task)
    history: list[dict] = []
    while True:
        try:
            text = console.input(f"[bold]{escape(line('cli_you'))}[/] ")
        except EOFError:
            break
        if not text.strip():
            break
        try:
            answer = session.reply(history + [{"role": "user", "content": text}])
        except AnchortuneError as exc:  # a message that cannot be answered: say why, keep the conversation
            err.print(f"[red]{escape(line('cli_not_sent', detail=exc.describe(language())))}[/]", highlight=False)
            continue
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        console.print(f"[bold]{escape(line('cli_model'))}[/] " + escape(answer), highlight=False)


@app.command()
def generate(
    run_or_model: str = typer.Argument(..., help="A run folder or any model name."),
    prompts: Path = typer.Argument(..., help="JSONL with 'prompt' or 'messages' per line."),
    task: Optional[str] = typer.Option(None, help="Task preset for the system prompt (default: the run's)."),
    out: Optional[Path] = typer.Option(None, help="Write answers as JSONL here instead of stdout."),
    max_new_tokens: int = typer.Option(256, help="Longest answer in tokens."),
) -> None:
    """Answer a batch of prompts (batched, greedy) and write one JSON line per prompt."""
    rows = app_chat.generate_batch(run_or_model, prompts, task, max_new_tokens, out)
    if out:
        console.print(line("cli_answers_written", n=len(rows), file=out), highlight=False, markup=False)
    else:
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


app.command("demo-data")(data_commands.demo_data)


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="Run folder for the demo (replaced if present).")) -> None:
    """Prepare the default model, fine-tune it on the support demo and show base versus tuned."""
    import shutil

    data = out.parent / "demo-support.jsonl"
    datasets.write_demo_data("support", data)
    if out.exists():
        shutil.rmtree(out)
    with working(line("cli_preparing_default")):
        app_models.prepare_model(None)
    cfg = RunConfig.build(data=str(data), task="support")
    view = ProgressView(console)
    try:
        outcome = runs.train_run(cfg, out, on_event=view)
    finally:
        view.close()
    train_command.print_outcome(outcome)


app.command()(adapt_cli.adapt)
app.command()(plan_cli.plan)
app.command()(studio.serve)
app.command()(studio.worker)


def main() -> None:
    """Console-script entry point: run the app, turning user errors into readable lines (exit codes: README)."""
    from anchortune import allocator

    allocator.reexec()  # once, before any work: jemalloc where the machine has it
    stopping.install()  # SIGTERM and SIGINT unwind like Ctrl-C, and end the process within 2 s in any case
    choose_language(None)  # this command's --lang, once its options are read; until then the environment's
    _early_language(sys.argv[1:])
    command = typer.main.get_command(app)
    help_language.in_language(command, language())
    try:
        code = command.main(prog_name="anchortune", standalone_mode=False)  # Click's own errors come back here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Abort:  # end of input at a prompt
        err.print(line("cli_aborted"), highlight=False, markup=False)
        sys.exit(1)
    except typer.TyperException as exc:  # a usage error of the command line itself: an unknown option, a bad value
        if type(exc).__name__ != "NoArgsIsHelpError":  # no arguments: the help was the answer, already printed
            usage_error(exc)
        sys.exit(getattr(exc, "exit_code", 2))
    except AnchortuneError as exc:
        err.print(f"[red]{escape(line('cli_error', detail=exc.describe(language())))}[/]", highlight=False,
                  soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, KeyboardInterrupt) or stopping.stopped():
            err.print(line("cli_interrupted"))
        if stopping.stopped():
            stopping.finish()
        sys.exit(stopping.EXIT_CODE if isinstance(exc, KeyboardInterrupt) else exc.code)


def usage_error(exc) -> None:
    """A usage error of the command line as Click finds it (unknown option or command, a value of the wrong type, a
    missing argument), in the user's language: the command's usage, where its help is, and what was wrong."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        given = ctx.find_root().params.get("lang")
        if given:  # an error found before the options' callback ran (an unknown command): its --lang still counts
            try:
                choose_language(given)
            except AnchortuneError:
                pass
        usage = ctx.get_usage()
        err.print(line("cli_usage", text=usage.split(":", 1)[1].strip() if ":" in usage else usage),
                  highlight=False, markup=False)
        if ctx.help_option_names:
            err.print(line("cli_usage_help", command=f"{ctx.command_path} {ctx.help_option_names[0]}"),
                      highlight=False, markup=False)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    err.print(f"[red]{escape(line('cli_error', detail=tr(message)))}[/]", highlight=False, soft_wrap=True)


def _early_language(args: list[str]) -> None:
    """--lang as given before the command, read ahead of Click: a mistake among the program's own options (an unknown
    one, --lang without a value) is then said in it too. A value that names no language is left for --lang's own
    error."""
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            return  # the command: the program's options end here
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else args[i + 1] if arg == "--lang" and \
            i + 1 < len(args) else None
        if value:
            try:
                choose_language(value)
            except AnchortuneError:
                pass
            return

