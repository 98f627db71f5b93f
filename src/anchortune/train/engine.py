"""The fine-tuning engine: transformers' Trainer with PEFT LoRA (or full), configured for small CPUs.

Given a loaded model and tokenised examples, it trains with answer-only loss, length-grouped
batches padded to the batch's longest example (no fixed-length padding waste), bf16 autocast where
the hardware has it, periodic evaluation, checkpoints, early stopping and restore of the best
checkpoint. It reports through events; it never prints, and it writes only checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from anchortune.config import RunConfig
from anchortune.errors import RunError
from anchortune.train import precision as precision_mod
from anchortune.train.collate import PadCollator
from anchortune.train.events import Event, EventSink

EVALS_PER_RUN = 8


@dataclass
class TrainResult:
    """What a finished run hands back: the trained model (best checkpoint restored) and its facts."""

    model: object
    precision: str
    steps: int
    max_steps: int
    best_step: int | None
    best_valid_loss: float | None
    stopped_early: bool
    train_seconds: float
    tokens_trained: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_trained / self.train_seconds if self.train_seconds else 0.0


def plan_steps(n_train: int, cfg: RunConfig) -> tuple[int, int]:
    """(total optimizer steps, evaluate-every) for a resolved config."""
    per_epoch = max(1, math.ceil(n_train / cfg.batch_size))
    total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    return total, cfg.eval_every or max(1, total // EVALS_PER_RUN)


def wrap_lora(model, cfg: RunConfig):
    """The model with a LoRA adapter on every linear layer of its transformer blocks."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def fine_tune(model, tokenizer, train: list[dict], valid: list[dict], cfg: RunConfig, checkpoints: Path,
              on_event: EventSink, resume: bool = False) -> TrainResult:
    """Train `model` (LoRA-wrapped here when cfg.method is lora) and restore its best checkpoint."""
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

    set_seed(cfg.seed)
    chosen = precision_mod.choose(cfg.precision)
    if cfg.method == "lora":
        model = wrap_lora(model, cfg)
    total, every = plan_steps(len(train), cfg)
    has_valid = bool(valid)
    args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, max_steps=total, learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=int(cfg.warmup_ratio * total), weight_decay=cfg.weight_decay,
        bf16=chosen == "bf16", use_cpu=not _cuda(), logging_steps=max(1, every // 2),
        eval_strategy="steps" if has_valid else "no", eval_steps=every, save_strategy="steps", save_steps=every,
        save_total_limit=2, load_best_model_at_end=has_valid, metric_for_best_model="eval_loss",
        greater_is_better=False, disable_tqdm=True, report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        train_sampling_strategy="group_by_length", remove_unused_columns=False, dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding", log_level="error",
    )
    progress = _EventCallback(on_event, chosen)
    callbacks = [progress]
    if has_valid and cfg.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=valid or None,
                      data_collator=PadCollator(tokenizer.pad_token_id), callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # the engine reports through events only
    if resume and not _has_checkpoint(checkpoints):
        raise RunError(f"nothing to resume: no checkpoint in '{checkpoints}'")
    trainer.train(resume_from_checkpoint=True if resume else None)
    state = trainer.state
    best_step = _step_of(state.best_model_checkpoint)
    return TrainResult(model=trainer.model, precision=chosen, steps=state.global_step, max_steps=total,
                       best_step=best_step, best_valid_loss=state.best_metric, stopped_early=state.global_step < total,
                       train_seconds=progress.busy, tokens_trained=progress.tokens_trained(state))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _has_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())


def _step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None


class _EventCallback(TrainerCallback):
    """Turns Trainer callbacks into anchortune events with tokens/s and ETA (evaluation time excluded)."""

    def __init__(self, sink: EventSink, precision: str):
        self.sink = sink
        self.precision = precision
        self.busy = 0.0
        self.tokens_at_start = 0
        self.step_started = 0.0
        self.steps_done = 0

    def tokens_trained(self, state) -> int:
        return int(state.num_input_tokens_seen) - self.tokens_at_start

    def on_train_begin(self, args, state, control, **kwargs):
        self.tokens_at_start = int(state.num_input_tokens_seen)
        self.sink(Event("start", state.global_step, {"max_steps": state.max_steps, "precision": self.precision,
                                                     "resumed_from": state.global_step}))

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.busy += time.perf_counter() - self.step_started
        self.steps_done += 1
        speed = self.tokens_trained(state) / self.busy if self.busy else 0.0
        eta = (state.max_steps - state.global_step) * self.busy / self.steps_done
        self.sink(Event("progress", state.global_step, {"max_steps": state.max_steps, "tokens_per_s": speed,
                                                        "eta_s": eta}))

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        speed = self.tokens_trained(state) / self.busy if self.busy else 0.0
        if "loss" in logs:
            self.sink(Event("train", state.global_step, {"train_loss": logs["loss"],
                                                         "learning_rate": logs.get("learning_rate"),
                                                         "epoch": logs.get("epoch"), "tokens_per_s": speed}))
        if "eval_loss" in logs:
            self.sink(Event("eval", state.global_step, {"valid_loss": logs["eval_loss"], "epoch": logs.get("epoch")}))
