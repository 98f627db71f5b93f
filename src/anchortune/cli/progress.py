"""Rendering training events in the terminal: a Rich progress bar with tokens/s and ETA while the steps run, eval
lines, and a line for each later stage (final evaluation, held-out answers, merging) with its estimate; in the command
line's language (cli/console.py)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from anchortune.app.runs import Event, general_summary
from anchortune.cli.console import escape, line, tr


class ProgressView:
    """An event sink that draws one progress bar per run and prints evaluations and warnings above it."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "start":
            self.console.print(line("cli_training_resumed", precision=data["precision"], max=data["max_steps"],
                                    step=data["resumed_from"]) if data["resumed_from"] else
                               line("cli_training_with", precision=data["precision"], max=data["max_steps"]),
                               highlight=False, markup=False)
            if data.get("engine"):
                self.console.print(data["engine"], highlight=False, markup=False)
            self.progress = Progress(TextColumn(f"[bold]{escape(line('cli_bar_train'))}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("{task.fields[speed]:>7.0f} tok/s"),
                                     TextColumn(escape(line("cli_bar_loss")) + " {task.fields[loss]}"),
                                     TextColumn(escape(line("cli_bar_eta"))),
                                     TimeRemainingColumn(), console=self.console, transient=False)
            self.task = self.progress.add_task("train", total=data["max_steps"], completed=event.step,
                                               speed=0.0, loss="-")
            self.progress.start()
        elif event.kind == "stage":
            if data["stage"] not in ("base_eval", "training"):
                self.close()  # the steps are done; what follows has its own line and estimate
            if data["stage"] != "training":
                eta = f" (~{data['eta_s']:.0f} s)" if data.get("eta_s") else ""
                self._print(f"[bold]{escape(tr(data['message']))}[/]{eta}")
        elif event.kind == "progress" and self.progress and data.get("stage", "training") == "training":
            self.progress.update(self.task, completed=event.step, speed=data["tokens_per_s"])
        elif event.kind == "train" and self.progress:
            loss = f"{data['train_loss']:.3f}"
            if data.get("reward") is not None:  # a reinforcement run: the reward, its spread in groups, the length
                loss = line("cli_bar_reward", loss=loss, reward=f"{data['reward']:.3f}",
                            value=f"{data.get('reward_spread') or 0:.3f}", n=f"{data.get('answer_tokens') or 0:.0f}")
            self.progress.update(self.task, loss=escape(tr(loss)))
        elif event.kind == "eval":
            general = general_summary(data).removeprefix(", ")
            reward = data.get("valid_reward") is not None
            key = ("cli_step_reward" if reward else "log_valid_loss") + ("_general" if general else "")
            value = {"reward": f"{data['valid_reward']:.3f}"} if reward else {"loss": f"{data['valid_loss']:.4f}"}
            self._print(escape(line(key, step=event.step, general=general, **value) if general else
                               line(key, step=event.step, **value)))
        elif event.kind == "warning":
            self._print(f"[yellow]{escape(line('cli_warning', message=data['message']))}[/]")
        elif event.kind == "info" and "verdict" not in data:  # the verdict: the outcome prints it, once, in bold
            self._print(escape(tr(data["message"])))
        elif event.kind == "done":
            self.close()

    def _print(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
