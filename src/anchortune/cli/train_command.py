"""The `train` command: anchor points (or preference pairs, or graded prompts) to a tuned model with its evidence,
progress drawn live, and the outcome printed in the team's terms: the verdict, what shows it, what to do next, the
run's own measures and sample answers base against tuned. Registered on the `anchortune` app by cli/main.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from anchortune.app import runs
from anchortune.cli.console import console, delimiter_option, escape, language, line, option_help, result_lines, tr
from anchortune.cli.progress import ProgressView
from anchortune.config import RunConfig

def train(
    data: Path = typer.Argument(..., help=option_help("data")),
    task: str = typer.Option("custom", help=option_help("task")),
    model: Optional[str] = typer.Option(None, help=option_help("model")),
    out: Path = typer.Option(Path("runs/latest"), help="Run folder to create (or continue with --resume)."),
    method: str = typer.Option("lora", help=option_help("method")),
    objective: str = typer.Option("supervised", help=option_help("objective")),
    beta: Optional[float] = typer.Option(None, help=option_help("beta")),
    grader: Optional[Path] = typer.Option(None, help=option_help("grader")),
    num_generations: Optional[int] = typer.Option(None, help=option_help("num_generations")),
    max_answer_tokens: Optional[int] = typer.Option(None, help=option_help("max_answer_tokens")),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help=option_help("chat_template")),
    epochs: Optional[float] = typer.Option(None, help=option_help("epochs")),
    max_steps: Optional[int] = typer.Option(None, help=option_help("max_steps")),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help=option_help("learning_rate")),
    batch_size: Optional[int] = typer.Option(None, help=option_help("batch_size")),
    micro_batch_size: Optional[int] = typer.Option(None, help=option_help("micro_batch_size")),
    max_length: Optional[int] = typer.Option(None, help=option_help("max_length")),
    lora_r: Optional[int] = typer.Option(None, help=option_help("lora_r")),
    eval_every: Optional[int] = typer.Option(None, help=option_help("eval_every")),
    patience: Optional[int] = typer.Option(None, help=option_help("patience")),
    precision: str = typer.Option("auto", help=option_help("precision")),
    engine: str = typer.Option("auto", help=option_help("engine")),
    seed: Optional[int] = typer.Option(None, help=option_help("seed")),
    input_col: Optional[str] = typer.Option(None, help=option_help("input_col")),
    output_col: Optional[str] = typer.Option(None, help=option_help("output_col")),
    label_col: Optional[str] = typer.Option(None, help=option_help("label_col")),
    delimiter: Optional[str] = typer.Option(None, help=option_help("delimiter")),
    profile: str = typer.Option("balanced", help=option_help("profile")),
    replay: Optional[float] = typer.Option(None, help=option_help("replay")),
    neftune: Optional[float] = typer.Option(None, help=option_help("neftune")),
    kl_general: Optional[float] = typer.Option(None, "--kl-general", help=option_help("kl_general")),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing",
                                                help=option_help("gradient_checkpointing")),
    devices: int = typer.Option(1, help=option_help("devices")),
    nodes: int = typer.Option(1, help=option_help("nodes")),
    strategy: str = typer.Option("ddp", help=option_help("strategy")),
    node_rank: int = typer.Option(0, "--node-rank", help="This machine's number among --nodes (0 writes the run)."),
    master: Optional[str] = typer.Option(None, help="host:port of node 0, where the machines of a multi-node run "
                                                    "meet (chosen locally on one machine)."),
    track: str = typer.Option("none", help=option_help("track")),
    tracking_uri: Optional[str] = typer.Option(None, help=option_help("tracking_uri")),
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
                          label_col=label_col, delimiter=delimiter_option(delimiter), profile=profile,
                          replay=replay, neftune=neftune, kl_general=kl_general,
                          gradient_checkpointing=gradient_checkpointing or None, devices=devices, nodes=nodes,
                          strategy=strategy, track=track, tracking_uri=tracking_uri,
                          language=language())
    view = ProgressView(console)
    try:
        outcome = runs.train_run(cfg, out, resume=resume, on_event=view, force=force,
                                 launch=runs.Launch(devices, nodes, node_rank, master))
    finally:
        view.close()
    if not outcome.summary:
        console.print(line("cli_node_done", n=node_rank), highlight=False, markup=False)
        return
    print_outcome(outcome)


def print_outcome(outcome: runs.RunOutcome) -> None:
    losses, training = outcome.summary["losses"], outcome.summary["training"]
    rewards = outcome.summary.get("reinforcement")
    checkpoint = training.get("checkpoint") or line("cli_best_step", step=training["best_step"])
    if (step := re.fullmatch(r"step (\d+)", checkpoint)) is not None:  # too short a sentence for translate to find
        checkpoint = line("step_words", step=step.group(1))
    if rewards and rewards.get("prompts"):
        said = line("cli_reward_outcome", base=f"{rewards['base']['reward']:.3f}",
                    tuned=f"{rewards['tuned']['reward']:.3f}", n=rewards["prompts"], checkpoint=checkpoint,
                    precision=training["precision"])
    else:
        said = line("cli_loss_outcome", base=f"{losses['base_valid']:.4f}", tuned=f"{losses['tuned_valid']:.4f}",
                    checkpoint=checkpoint, speed=f"{training['tokens_per_s']:.0f}", precision=training["precision"])
    console.print(said, highlight=False, markup=False)
    engine = training.get("engine")
    if engine:
        fast = [n.replace("_", " ") for n, p in engine["parts"].items() if p["path"] == "fast"]
        console.print(line("cli_engine", requested=engine["requested"], path=engine["path"],
                           names=", ".join(fast) or line("cli_no_part")), highlight=False, markup=False)
    diagnosis = outcome.summary.get("verdict") or (outcome.summary.get("balance") or {}).get("diagnosis")
    if diagnosis:
        print_verdict(diagnosis)
        loss = (outcome.summary.get("balance") or {}).get("diagnosis")
        if loss and loss is not diagnosis:
            console.print(line("cli_losses_beneath", verdict=loss["verdict"], reason=loss["reason"]),
                          highlight=False, markup=False)
    for said in result_lines(outcome.summary):
        console.print(said, highlight=False, markup=False)
    for sample in outcome.summary["samples"]:
        console.rule(escape(line("cli_sample_line", line=sample["line"])))
        for key, text in (("cli_sample_prompt", sample["prompt"]), ("cli_sample_base", sample["base"]),
                          ("cli_sample_tuned", sample["tuned"])):
            console.print(f"[bold]{escape(line(key))}[/] " + escape(text), highlight=False)
    console.print(line("cli_run_folder", file=outcome.folder), highlight=False, markup=False)


def print_verdict(diagnosis: dict) -> None:
    """The verdict in bold with its reason, what the answers showed where it says more, and what to do next."""
    console.print(f"[bold]{escape(line('log_verdict', verdict=diagnosis['verdict'], reason=diagnosis['reason']))}[/]",
                  highlight=False)
    if diagnosis.get("answers") and diagnosis["answers"] != diagnosis["reason"]:
        console.print(tr(diagnosis["answers"]), highlight=False, markup=False)
    if diagnosis.get("advice"):
        console.print(line("cli_next", advice=diagnosis["advice"]), highlight=False, markup=False)
