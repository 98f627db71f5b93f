"""A training's progress as anchortune events: start, per-step speed and ETA, train and evaluation rows
with retention on the general probe, and overfitting or forgetting warnings as they happen.

The Trainer calls it back; it keeps the time spent in training steps (evaluation excluded), which is the
run's training time and the base of its tokens/s, and the time each evaluation takes, so the time left it
reports counts the evaluations still to come (`eta_s`, the training stage) and, with `after_training`, the final
evaluation and the held-out answers after the last step (`eta_total_s`). The evaluation rows it gathers are the candidates the
engine later chooses the best-balanced checkpoint from (evaluate/balance.py); a preference run's rows carry TRL's
reward accuracy and margin on the held-out pairs too, a reinforcement run's train rows the mean reward, its spread
within a prompt's group of answers, the answer length and the KL to the base (REINFORCEMENT_LOGS).
"""

from __future__ import annotations

import math
import time

from transformers import TrainerCallback

from anchortune.evaluate import balance
from anchortune.engine.loss import answer_loss
from anchortune.messages import say
from anchortune.train import distributed
from anchortune.train.events import Event, EventSink


PREFERENCE_LOGS = {"eval_rewards/accuracies": "reward_accuracy", "eval_rewards/margins": "reward_margin"}  # TRL's
# a reinforcement run's train rows (TRL's GRPO logs; group_spread: train/reinforce.py's reward function's)
REINFORCEMENT_LOGS = {"reward": "reward", "group_spread": "reward_spread", "completions/mean_length": "answer_tokens",
                      "kl": "kl", "frac_reward_zero_std": "flat_groups"}


class ProgressCallback(TrainerCallback):
    """Turns Trainer callbacks into anchortune events with tokens/s and ETA (evaluation time excluded).

    `baseline` is what the base model scored (train/engine.py, Baseline): its general probe and probe loss."""

    def __init__(self, sink: EventSink, precision: str, pad_id: int, baseline, batch_size: int,
                 history: list[dict], engine=None, after_training=None, evals_left=None):
        self.sink = sink
        self.engine = engine  # engine/paths.py's EnginePlan of the run
        self.precision = precision
        self.pad_id = pad_id
        self.baseline = baseline
        self.batch_size = batch_size
        self.evals = [r for r in history if "valid_loss" in r]
        self.trains = [r for r in history if "train_loss" in r]
        self.busy = 0.0
        self.tokens_at_start = 0
        self.step_started = 0.0
        self.steps_done = 0
        self.diverged: tuple[int, str, float] | None = None  # (step, which loss, its value) once one is not finite
        self.after_training = after_training  # mean evaluation seconds -> seconds needed after the last step
        self.evals_left = evals_left or (lambda step: 0)  # step -> evaluations still to come
        self.eval_s: list[float] = []
        self.step_ended = 0.0

    def tokens_trained(self, state) -> int:
        return int(state.num_input_tokens_seen) - self.tokens_at_start

    def on_train_begin(self, args, state, control, **kwargs):
        self.tokens_at_start = int(state.num_input_tokens_seen)
        engine = {"engine": self.engine.describe(), "engine_path": self.engine.path} if self.engine else {}
        self.sink(Event("start", state.global_step, {"max_steps": state.max_steps, "precision": self.precision,
                                                     "resumed_from": state.global_step, **engine}))

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ended = time.perf_counter()
        self.busy += self.step_ended - self.step_started
        if state.global_step >= state.max_steps and args.eval_strategy != "no":
            control.should_evaluate = control.should_save = True  # the final weights are a candidate too
        self.steps_done += 1
        speed = self.tokens_trained(state) / self.busy if self.busy else 0.0
        evals = self.evals_left(state.global_step) if args.eval_strategy != "no" else 0
        eta = (state.max_steps - state.global_step) * self.busy / self.steps_done + evals * (self.mean_eval_s() or 0.0)
        after = self.final_eval_s()
        self.sink(Event("progress", state.global_step, {
            "stage": "training", "max_steps": state.max_steps, "tokens_per_s": speed, "eta_s": eta,
            "fraction": state.global_step / max(1, state.max_steps),
            "eta_total_s": eta + after if after is not None else None}))

    def on_evaluate(self, args, state, control, **kwargs):
        if self.step_ended:
            self.eval_s.append(time.perf_counter() - self.step_ended)

    def mean_eval_s(self) -> float | None:
        """One evaluation's mean duration so far (None before the first)."""
        return sum(self.eval_s) / len(self.eval_s) if self.eval_s else None

    def final_eval_s(self) -> float | None:
        """Seconds the run needs after its last step, estimated from the evaluations so far (None before one)."""
        mean = self.mean_eval_s()
        return self.after_training(mean) if mean is not None and self.after_training else None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        for key, name in (("loss", "training loss"), ("eval_loss", "validation loss")):
            if key in logs and not math.isfinite(logs[key]) and self.diverged is None:
                self.diverged = (state.global_step, name, logs[key])
                control.should_training_stop = True  # nothing after a NaN can be kept
        speed = self.tokens_trained(state) / self.busy if self.busy else 0.0
        if "loss" in logs:
            row = {"train_loss": logs["loss"], "learning_rate": logs.get("learning_rate"), "epoch": logs.get("epoch"),
                   "tokens_per_s": speed,
                   **{name: logs[key] for key, name in REINFORCEMENT_LOGS.items() if key in logs}}
            self.trains.append({"step": state.global_step, **row})
            self.sink(Event("train", state.global_step, row))
        if "eval_loss" in logs:
            row = {"valid_loss": logs["eval_loss"], "epoch": logs.get("epoch"), **self._retention(kwargs.get("model")),
                   **{name: logs[key] for key, name in PREFERENCE_LOGS.items() if key in logs}}
            self.evals = [r for r in self.evals if r["step"] < state.global_step] + [{"step": state.global_step, **row}]
            self.sink(Event("eval", state.global_step, row))
            self._warn(state.global_step)

    def _retention(self, model) -> dict:
        """General ability now (loss on general text, cloze accuracy; evaluate/general.py) and the answer style's
        drift on the general probe, each against the base model's."""
        from anchortune.evaluate import general

        if model is None or not distributed.is_main():  # the guard's measures are rank 0's
            return {}
        row = {}
        base = self.baseline
        if base.probe and base.probe_loss:
            probe_loss = answer_loss(model, base.probe, self.pad_id, self.batch_size, self.precision)
            row.update(probe_loss=probe_loss, drift=probe_loss / base.probe_loss - 1)
        if base.general:
            scores = general.measure(model, base.general, self.pad_id, self.batch_size, self.precision)
            row.update(scores)
            if base.text_loss and "text_loss" in scores:
                row["text_drift"] = scores["text_loss"] / base.text_loss - 1
            if base.cloze_accuracy is not None and scores.get("cloze_accuracy") is not None:
                row["cloze_drop"] = base.cloze_accuracy - scores["cloze_accuracy"]
        return row

    def _warn(self, step: int) -> None:
        """Warnings as they happen: overfitting and forgetting signals at this evaluation."""
        last = self.evals[-1]
        if balance.rising_while_training_falls(self.trains, self.evals):
            self.sink(Event("warning", step, {"message": say("log_warn_overfitting", loss=f"{last['valid_loss']:.3f}")}))
        lost = balance.Candidate(step, last["valid_loss"], None, text_drift=last.get("text_drift"),
                                 cloze_drop=last.get("cloze_drop")).forgot()
        if lost:
            self.sink(Event("warning", step, {"message": say("log_warn_forgetting", lost=lost)}))
