"""Rendering training events in the terminal: a Rich progress bar with tokens/s and ETA while the steps run, eval
lines, and a line for each later stage (final evaluation, held-out answers, merging) with its estimate."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from anchortune.app.runs import Event, general_summary


class ProgressView:
    """An event sink that draws one progress bar per run and prints evaluations and warnings above it."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "start":
            self.console.print(f"training with {data['precision']} compute, {data['max_steps']} steps"
                               + (f", resumed at step {data['resumed_from']}" if data["resumed_from"] else ""))
            if data.get("engine"):
                self.console.print(data["engine"], highlight=False, markup=False)
            self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[speed]:>7.0f} tok/s"),
                                     TextColumn("loss {task.fields[loss]}"), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=self.console, transient=False)
            self.task = self.progress.add_task("train", total=data["max_steps"], completed=event.step,
                                               speed=0.0, loss="-")
            self.progress.start()
        elif event.kind == "stage":
            if data["stage"] not in ("base_eval", "training"):
                self.close()  # the steps are done; what follows has its own line and estimate
            if data["stage"] != "training":
                eta = f" (~{data['eta_s']:.0f} s)" if data.get("eta_s") else ""
                self._print(f"[bold]{data['message']}[/]{eta}")
        elif event.kind == "progress" and self.progress and data.get("stage", "training") == "training":
            self.progress.update(self.task, completed=event.step, speed=data["tokens_per_s"])
        elif event.kind == "train" and self.progress:
            loss = f"{data['train_loss']:.3f}"
            if data.get("reward") is not None:  # a reinforcement run: the reward, its spread in groups, the length
                loss += (f", reward {data['reward']:.3f} (spread {data.get('reward_spread') or 0:.3f}), "
                         f"{data.get('answer_tokens') or 0:.0f} answer tokens")
            self.progress.update(self.task, loss=loss)
        elif event.kind == "eval" and data.get("valid_reward") is not None:
            self._print(f"step {event.step}: held-out reward {data['valid_reward']:.3f}{general_summary(data)}")
        elif event.kind == "eval":
            self._print(f"step {event.step}: validation loss {data['valid_loss']:.4f}{general_summary(data)}")
        elif event.kind == "warning":
            self._print(f"[yellow]warning:[/] {data['message']}")
        elif event.kind == "info":
            self._print(data["message"])
        elif event.kind == "done":
            self.close()

    def _print(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
