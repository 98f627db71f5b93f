"""The `anchortune` command: a few lines per command, each calling one function of the application layer (app/).

User mistakes (AnchortuneError) print as plain lines on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from anchortune.app import chat as app_chat
from anchortune.app import datasets, runs
from anchortune.app import models as app_models
from anchortune.app import compare as app_compare
from anchortune.cli import adapt as adapt_cli
from anchortune.cli import compare_view
from anchortune.cli import plan as plan_cli
from anchortune.cli import stopping, studio
from anchortune.cli.progress import ProgressView
from anchortune.config import RunConfig
from anchortune.app.datasets import CsvColumns
from anchortune.errors import AnchortuneError, ConfigError
from anchortune.messages import LANGUAGES, say

app = typer.Typer(help="Fine-tune a small open language model for one job from anchor points.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
models_app = typer.Typer(help="The built-in model catalog.", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _help(field: str) -> str:
    return RunConfig.model_fields[field].description or ""


@models_app.command("list")
def models_list() -> None:
    """Show the built-in models with size, licence, source package and whether prepared."""
    table = Table("name", "model", "size", "licence", "package", "installed", "prepared")
    table.columns[0].no_wrap = True
    for row in app_models.list_models():
        table.add_row(row.name + (" (default)" if row.default else ""), row.title, row.parameters, row.licence,
                      row.package, "yes" if row.installed else "no", "yes" if row.prepared else "no")
    console.print(table)


@models_app.command("prepare")
def models_prepare(name: str = typer.Argument(..., help="Catalog name, local .gguf file or HF folder.")) -> None:
    """Turn a packaged GGUF into a cached safetensors folder (once)."""
    with console.status(f"preparing {name}"):
        folder = app_models.prepare_model(name)
    console.print(f"{name}: ready in {folder}")


@app.command()
def validate(
    data: Path = typer.Argument(..., help="Anchor points: a JSONL or CSV file."),
    input_col: Optional[str] = typer.Option(None, help=_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=_help("delimiter")),
) -> None:
    """Read anchor points (or preference pairs) and report every format problem with file, line and field."""
    if datasets.is_pair_file(data):
        console.print(f"{data}: {len(datasets.read_pairs(data))} preference pairs")
        return
    points = datasets.read_anchor_points(data, CsvColumns(input_col, output_col, label_col, _delimiter(delimiter)))
    facts = datasets.describe_data(points)
    console.print(f"{data}: {facts['examples']} anchor points, {facts['multi_turn']} multi-turn, "
                  f"{len(facts['labels'])} labels")


@app.command()
def check(
    data: Path = typer.Argument(..., help="Anchor points: a JSONL or CSV file."),
    task: str = typer.Option("custom", help=_help("task")),
    model: Optional[str] = typer.Option(None, help="Model whose tokenizer counts tokens (and scores IFD)."),
    description: Optional[str] = typer.Option(None, help="What the task is; rows unrelated to it are flagged."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    fix_out: Optional[Path] = typer.Option(None, "--fix", help="Write a cleaned dataset here (+ review, changelog)."),
    max_length: Optional[int] = typer.Option(None, help=_help("max_length")),
    max_rows: int = typer.Option(datasets.MAX_ROWS, help="Judge at most this many rows: a larger file is read line "
                                                         "by line and judged on a seeded sample (every row's format "
                                                         "is still checked)."),
    ifd: bool = typer.Option(False, "--ifd", help="Also score whether answers follow from prompts (base model, slower)."),
    input_col: Optional[str] = typer.Option(None, help=_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=_help("delimiter")),
) -> None:
    """Judge anchor points before training: relevant, diverse, balanced, clear - with reasons and advice."""
    columns = CsvColumns(input_col, output_col, label_col, _delimiter(delimiter))
    with console.status("checking anchor points"):
        if datasets.is_pair_file(data) and fix_out is None:  # preference pairs: their own gate
            report, written = datasets.check_pairs_file(data, task, model, max_length, json_out, html_out)
        else:
            report, written = datasets.check_file(data, task, model, description, columns, max_length, ifd,
                                                  json_out, html_out, fix_out, max_rows)
    _print_report(report)
    for kind, path in written.items():
        console.print(f"{kind}: {path}")


def _delimiter(value: str | None) -> str | None:
    """The --delimiter option: one character, or 'tab' / '\\t' for a tab (hard to type in a shell)."""
    return "\t" if value in ("tab", "\\t", "TAB") else value


def _print_report(report) -> None:
    colour = {"good": "green", "fair": "yellow", "poor": "red"}[report.verdict]
    console.print(f"[bold {colour}]{report.verdict}[/]: {report.examples} examples; "
                  + ", ".join(f"{k} {v}" for k, v in report.scores.items()))
    for reason in report.reasons:
        console.print(f"  - {_escape(reason)}", highlight=False)
    table = Table("line", "severity", "reason", "why")
    findings = sorted(report.findings, key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.line))
    for f in findings[:15]:
        table.add_row(str(f.line), f.severity, f.code, _escape(f.message))
    if findings:
        console.print(table)
        if len(findings) > 15:
            console.print(f"... and {len(findings) - 15} more findings (--json or --html for all)")
    console.print("[bold]what to do:[/]")
    for i, tip in enumerate(report.advice, 1):
        console.print(f"  {i}. {_escape(tip)}", highlight=False)


@app.command()
def train(
    data: Path = typer.Argument(..., help=_help("data")),
    task: str = typer.Option("custom", help=_help("task")),
    model: Optional[str] = typer.Option(None, help=_help("model")),
    out: Path = typer.Option(Path("runs/latest"), help="Run folder to create (or continue with --resume)."),
    method: str = typer.Option("lora", help=_help("method")),
    objective: str = typer.Option("supervised", help=_help("objective")),
    beta: Optional[float] = typer.Option(None, help=_help("beta")),
    grader: Optional[Path] = typer.Option(None, help=_help("grader")),
    num_generations: Optional[int] = typer.Option(None, help=_help("num_generations")),
    max_answer_tokens: Optional[int] = typer.Option(None, help=_help("max_answer_tokens")),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help=_help("chat_template")),
    epochs: Optional[float] = typer.Option(None, help=_help("epochs")),
    max_steps: Optional[int] = typer.Option(None, help=_help("max_steps")),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help=_help("learning_rate")),
    batch_size: Optional[int] = typer.Option(None, help=_help("batch_size")),
    micro_batch_size: Optional[int] = typer.Option(None, help=_help("micro_batch_size")),
    max_length: Optional[int] = typer.Option(None, help=_help("max_length")),
    lora_r: Optional[int] = typer.Option(None, help=_help("lora_r")),
    eval_every: Optional[int] = typer.Option(None, help=_help("eval_every")),
    patience: Optional[int] = typer.Option(None, help=_help("patience")),
    precision: str = typer.Option("auto", help=_help("precision")),
    engine: str = typer.Option("auto", help=_help("engine")),
    seed: Optional[int] = typer.Option(None, help=_help("seed")),
    input_col: Optional[str] = typer.Option(None, help=_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=_help("delimiter")),
    profile: str = typer.Option("balanced", help=_help("profile")),
    replay: Optional[float] = typer.Option(None, help=_help("replay")),
    neftune: Optional[float] = typer.Option(None, help=_help("neftune")),
    kl_general: Optional[float] = typer.Option(None, "--kl-general", help=_help("kl_general")),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing",
                                                help=_help("gradient_checkpointing")),
    devices: int = typer.Option(1, help=_help("devices")),
    nodes: int = typer.Option(1, help=_help("nodes")),
    strategy: str = typer.Option("ddp", help=_help("strategy")),
    node_rank: int = typer.Option(0, "--node-rank", help="This machine's number among --nodes (0 writes the run)."),
    master: Optional[str] = typer.Option(None, help="host:port of node 0, where the machines of a multi-node run "
                                                    "meet (chosen locally on one machine)."),
    track: str = typer.Option("none", help=_help("track")),
    tracking_uri: Optional[str] = typer.Option(None, help=_help("tracking_uri")),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Train even when the quality gate calls the data poor."),
) -> None:
    """Fine-tune a model on anchor points and write adapter, merged model, metrics and model card."""

    cfg = RunConfig.build(data=str(data), task=task, model=model, method=method, objective=objective, beta=beta,
                          grader=runs.read_grader(grader) if grader else None, num_generations=num_generations,
                          max_answer_tokens=max_answer_tokens, chat_template=chat_template, epochs=epochs,
                          max_steps=max_steps, learning_rate=learning_rate, batch_size=batch_size, micro_batch_size=micro_batch_size,
                          max_length=max_length, lora_r=lora_r, eval_every=eval_every, patience=patience,
                          precision=precision, seed=seed, engine=engine, input_col=input_col, output_col=output_col,
                          label_col=label_col, delimiter=_delimiter(delimiter), profile=profile,
                          replay=replay, neftune=neftune, kl_general=kl_general,
                          gradient_checkpointing=gradient_checkpointing or None, devices=devices, nodes=nodes,
                          strategy=strategy, track=track, tracking_uri=tracking_uri)
    view = ProgressView(console)
    try:
        outcome = runs.train_run(cfg, out, resume=resume, on_event=view, force=force,
                                 launch=runs.Launch(devices, nodes, node_rank, master))
    finally:
        view.close()
    if not outcome.summary:
        console.print(f"node {node_rank}: its workers finished; node 0 wrote the run")
        return
    _print_outcome(outcome)


def _print_outcome(outcome: runs.RunOutcome) -> None:
    losses, training = outcome.summary["losses"], outcome.summary["training"]
    rewards = outcome.summary.get("reinforcement")
    if rewards and rewards.get("prompts"):
        console.print(f"held-out mean reward: base {rewards['base']['reward']:.3f} -> tuned "
                      f"{rewards['tuned']['reward']:.3f} over {rewards['prompts']} prompts "
                      f"({training.get('checkpoint') or 'best step ' + str(training['best_step'])}, "
                      f"{training['precision']})", highlight=False)
    else:
        console.print(f"held-out answer loss: base {losses['base_valid']:.4f} -> tuned {losses['tuned_valid']:.4f} "
                      f"({training.get('checkpoint') or 'best step ' + str(training['best_step'])}, "
                      f"{training['tokens_per_s']:.0f} tokens/s, "
                      f"{training['precision']})")
    engine = training.get("engine")
    if engine:
        fast = [n.replace("_", " ") for n, p in engine["parts"].items() if p["path"] == "fast"]
        console.print(f"engine: {engine['requested']} -> {engine['path']} path ({', '.join(fast) or 'no part'} fast)",
                      highlight=False, markup=False)
    diagnosis = outcome.summary.get("verdict") or (outcome.summary.get("balance") or {}).get("diagnosis")
    if diagnosis:
        console.print(f"[bold]verdict: {diagnosis['verdict']}[/] - {_escape(diagnosis['reason'])}", highlight=False)
        if diagnosis.get("answers") and diagnosis["answers"] != diagnosis["reason"]:
            console.print(_escape(diagnosis["answers"]), highlight=False)
        console.print(f"next: {_escape(diagnosis['advice'])}", highlight=False)
        loss = (outcome.summary.get("balance") or {}).get("diagnosis")
        if loss and loss is not diagnosis:
            console.print(f"the losses beneath (balance guard): {loss['verdict']} - {_escape(loss['reason'])}",
                          highlight=False)
    for line in result_lines(outcome.summary):
        console.print(line, highlight=False, markup=False)
    for sample in outcome.summary["samples"]:
        console.rule(f"line {sample['line']}")
        console.print(f"[bold]prompt:[/] {sample['prompt']}", markup=True, highlight=False)
        console.print("[bold]base:[/]  " + _escape(sample["base"]), highlight=False)
        console.print("[bold]tuned:[/] " + _escape(sample["tuned"]), highlight=False)
    console.print(f"run folder: {outcome.folder}")


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


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Two or more finished run folders; the first is the reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole comparison as JSON."),
    lang: str = typer.Option("en", "--lang", help="The table's language: en or de."),
) -> None:
    """Put finished runs side by side: data version, settings, curves, task metric, general ability, verdict."""
    if lang not in LANGUAGES:
        raise ConfigError(say("e_lang_choice", text=lang), param="lang")
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
    with console.status("evaluating base and tuned model"):
        result = runs.evaluate_run(run, data, general_text, choices, limit)
    base, tuned = result["models"]["base"], result["models"]["tuned"]
    table = Table("metric", "base", "tuned")
    for key, value in base.items():
        if isinstance(value, (int, float)) and isinstance(tuned.get(key), (int, float)):
            table.add_row(key, f"{value:.4f}", f"{tuned[key]:.4f}")
    console.print(table)
    if result.get("verdict"):
        v, a = result["verdict"], result.get("answers")
        console.print(f"[bold]verdict: {v['verdict']}[/] - {_escape(v['reason'])}", highlight=False)
        if a:
            console.print(f"{a['metric']}: tuned {a['tuned']:.3f}, base {a['base']:.3f}, trivial baseline "
                          f"({_escape(a['baseline']['words'])}) {a['baseline']['score']:.3f}; {a['agree']['tuned']} of "
                          f"{a['answers']} held-out answers agree with the reference", highlight=False)
        console.print(f"next: {_escape(v['advice'])}", highlight=False)
    for line in result_lines(result):
        console.print(line, highlight=False, markup=False)
    for key, change in result.get("retention", {}).items():
        amount = f"{change:+.0f} points" if key.endswith("_points") else f"{change:+.1%}"
        console.print(f"{key}: {amount} against the base model")
    if result.get("choices"):
        c = result["choices"]
        console.print(f"multiple choice: base {c['base_accuracy']:.1%}, tuned {c['tuned_accuracy']:.1%}, "
                      f"{c['right_to_wrong']} right-to-wrong flips")
    loop = result.get("next_to_write") or {}
    if loop.get("suggestions"):
        console.print(f"what to write next ({len(loop['failing'])} failing held-out items; {loop['rule']}):")
        for suggestion in loop["suggestions"]:
            console.print(f"- {suggestion}", highlight=False, markup=False)
    console.print(f"written: {Path(run) / 'eval.json'}, {Path(run) / 'eval.md'}")


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
    with console.status(f"exporting {run} as {fmt}"):
        record = runs.export_run(run, fmt, quant, out, data, check)
    console.print(f"written: {record['folder']}")
    parity = record.get("parity")
    if parity and parity.get("identical_answers") is not None:
        console.print(f"parity on {parity['prompts']} held-out prompts: {parity['identical_answers']:.0%} identical "
                      f"greedy answers, answer loss {parity['loss_gguf']:.4f} (GGUF) against "
                      f"{parity['loss_pytorch']:.4f} (PyTorch)")
    if record["status"] == "failed":
        err.print(f"export failed the parity check: {record['reason']}")
        raise typer.Exit(1)
    if record["status"] == "unchecked":
        console.print(f"not checked: {record['reason']}")
    elif record["status"] == "passed":
        console.print(f"parity passed: {record['reason']}")
    if record.get("modelfile"):
        console.print(f"run it: cd {record['folder']} && ollama create {Path(record['file']).stem} -f Modelfile "
                      f"&& ollama run {Path(record['file']).stem}")


@app.command()
def chat(
    run_or_model: str = typer.Argument(..., help="A run folder or any model name."),
    task: Optional[str] = typer.Option(None, help="Task preset for the system prompt (default: the run's)."),
) -> None:
    """Talk to a model in the terminal (empty line or Ctrl-D ends)."""
    with console.status("loading model"):
        session = app_chat.open_chat(run_or_model, task)
    history: list[dict] = []
    while True:
        try:
            text = console.input("[bold]you>[/] ")
        except EOFError:
            break
        if not text.strip():
            break
        try:
            answer = session.reply(history + [{"role": "user", "content": text}])
        except AnchortuneError as exc:  # a message that cannot be answered: say why, keep the conversation
            err.print(f"[red]not sent:[/] {_escape(str(exc))}", highlight=False)
            continue
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        console.print("[bold]model>[/] " + _escape(answer), highlight=False)


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
        console.print(f"{len(rows)} answers written to {out}")
    else:
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@app.command("demo-data")
def demo_data(
    kind: str = typer.Argument(..., help="support or invoice"),
    out: Path = typer.Argument(..., help="JSONL file to write."),
    n: Optional[int] = typer.Option(None, help="support: examples per intent; invoice: number of invoices."),
) -> None:
    """Write one of anchortune's own demo anchor-point sets."""
    path = datasets.write_demo_data(kind, out, n)
    console.print(f"demo set '{kind}' written to {path}")


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="Run folder for the demo (replaced if present).")) -> None:
    """Prepare the default model, fine-tune it on the support demo and show base versus tuned."""
    import shutil

    data = out.parent / "demo-support.jsonl"
    datasets.write_demo_data("support", data)
    if out.exists():
        shutil.rmtree(out)
    with console.status("preparing the default model"):
        app_models.prepare_model(None)
    cfg = RunConfig.build(data=str(data), task="support")
    view = ProgressView(console)
    try:
        outcome = runs.train_run(cfg, out, on_event=view)
    finally:
        view.close()
    _print_outcome(outcome)


app.command()(adapt_cli.adapt)
app.command()(plan_cli.plan)
app.command()(studio.serve)
app.command()(studio.worker)


def main() -> None:
    """Console-script entry point: run the app, turning user errors into readable lines (exit codes: README)."""
    from anchortune import allocator

    allocator.reexec()  # once, before any work: jemalloc where the machine has it
    stopping.install()  # SIGTERM and SIGINT unwind like Ctrl-C, and end the process within 2 s in any case
    try:
        app()
    except AnchortuneError as exc:
        err.print(f"[red]error:[/] {_escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, KeyboardInterrupt) or stopping.stopped():
            err.print("interrupted")
        if stopping.stopped():
            stopping.finish()
        sys.exit(stopping.EXIT_CODE if isinstance(exc, KeyboardInterrupt) else exc.code)
