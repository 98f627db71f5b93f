"""The fine-tuning engine: transformers' Trainer with PEFT LoRA (or full), configured for small CPUs.

Given a loaded model and tokenised examples, it trains with answer-only loss, bf16 autocast where the
hardware has it, periodic evaluation, checkpoints, early stopping and restore of the best checkpoint.
Each optimizer step trains on the examples a plain random sampler would give it (engine/collate.py,
StepSampler: with the same seed, the batches of TRL's or the Trainer's defaults), split into micro-
batches of balanced token counts, each packed into one row without padding between examples, which
attend only to themselves (engine/packed_attention.py); the learning rate decays linearly, as the
Trainer's default. At every evaluation it also measures retention: the loss on the general probe (see
evaluate/probe.py) against the base model's. LoRA runs keep every checkpoint (a few MB each) and restore
the one with the best balance of task gain and retention (evaluate/balance.py), not merely the lowest
validation loss; full fine-tuning keeps two and restores the lowest validation loss. It reports through
events (train/progress.py); it never prints, and it writes only checkpoints.

A `Training` is built before the engine is entered (the Trainer gets its engine plan, its sampler and its hooks as
constructor arguments), run inside the engine by the run session (train/session.py, the only place that enters it)
and read after the session has left it. Engines (RunConfig.engine, engine/paths.py): each fast part runs only where
its parity test proves it for the model and, under `auto`, where it is also faster on the device; everything else
is plain transformers + PEFT. Nothing here draws from torch's process-wide random generator (LoRA's first weights
and NEFTune's noise come from generators of the run's own; the Trainer itself seeds the process-wide ones).
Against TRL's SFTTrainer and the standard engine: bench/results/train_throughput.md; what each kept or dropped
change measured: bench/results/engine_history.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from anchortune import libraries
from anchortune.config import RunConfig
from anchortune.errors import RunError
from anchortune.evaluate import balance
from anchortune.engine.loss import answer_loss, answer_nll, autocast
from anchortune.engine import paths
from anchortune.train import distributed, neftune
from anchortune.train.adapter import load_adapter
from anchortune.engine.collate import PAD_MULTIPLE, PackCollator, StepSampler
from anchortune.train.events import EventSink
from anchortune.train.kl import KLTerm
from anchortune.engine.page_cache import PageCache
from anchortune.train.progress import ProgressCallback

libraries.configure()  # before any Trainer is built: accelerate's state per thread, quiet logs (libraries.py)

EVALS_PER_RUN = 8
MICRO_BATCH_CPU = 2  # examples per packed row on average (a batch of 8: four rows of ~400 tokens)


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
    tokens_trained: int  # over the whole run, the steps before a resume included
    candidates: list = field(default_factory=list)
    chosen: object = None
    engine: paths.EnginePlan | None = None
    parallel: dict = field(default_factory=dict)  # processes, strategy and what accelerate ran (several processes)
    tokens_this_start: int = 0  # trained since this start (a resumed run's share), the base of tokens/s
    eval_seconds: float | None = None  # one evaluation's mean duration (validation loss and general measures)
    final_eval_s: float | None = None  # the final evaluation's estimate (the candidates measured after training)
    reference: str | None = None  # a preference run's reference model (train/preference.py)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_this_start / self.train_seconds if self.train_seconds else 0.0


def plan_steps(n_train: int, cfg: RunConfig) -> tuple[int, int]:
    """(total optimizer steps, evaluate-every) for a resolved config."""
    per_epoch = max(1, math.ceil(n_train / cfg.batch_size))
    total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    return total, cfg.eval_every or max(1, total // EVALS_PER_RUN)


def nonfinite_weights(model) -> tuple[int, int]:
    """(weights that are NaN or infinite, all weights) of a model: a diverged training leaves the first above 0."""
    import torch

    bad = total = 0
    with torch.no_grad():
        for param in model.parameters():
            bad += int((~torch.isfinite(param)).sum())
            total += param.numel()
    return bad, total


def checkpointing_args(enabled: bool) -> dict:
    """TrainingArguments for gradient checkpointing under the name this transformers reads without a
    deprecation warning (5.2x renamed it activation checkpointing)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    name = "activation_checkpointing" if any(f.name == "activation_checkpointing" for f in fields(TrainingArguments)) \
        else "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False}}


@dataclass
class Baseline:
    """What the base model scores before training: the reference for gain and retention. `general` is the
    tokenizer's general-ability material (evaluate/general.py); `text_loss` and `cloze_accuracy` are the base
    model's scores on it, None where the base model fails a measure itself (evaluate/balance.py, informative)."""

    valid_loss: float
    probe: list[dict] = field(default_factory=list)
    probe_loss: float | None = None
    general: object = None
    text_loss: float | None = None
    cloze_accuracy: float | None = None
    measured: dict = field(default_factory=dict)  # the base model's general scores, informative or not
    kl_rows: list[dict] = field(default_factory=list)  # general rows the KL term holds the run to (train/kl.py)

    def reference(self) -> balance.Reference:
        return balance.Reference(self.valid_loss, self.probe_loss, self.text_loss, self.cloze_accuracy)


def warmup_steps(cfg: RunConfig, total: int) -> int:
    """Warmup steps: the configured share, or none when that is under 3 steps (a linear warmup's first step has
    learning rate 0: on a 38-step run one warmup step held out-of-sample loss at 1.333 against 1.321 without)."""
    steps = int(cfg.warmup_ratio * total)
    return steps if steps >= 3 else 0


def micro_batch(cfg: RunConfig, cuda: bool, world: int = 1) -> int:
    """Examples per forward pass: the largest divisor of a process's share of the batch (the whole batch on one
    process) up to the asked (or default) size."""
    if cfg.batch_size % world:
        raise RunError(f"batch size {cfg.batch_size} does not split over {world} processes: choose a multiple of "
                       f"{world} (--batch-size)")
    share = cfg.batch_size // world
    wanted = cfg.micro_batch_size or (share if cuda else MICRO_BATCH_CPU)
    return max(d for d in range(1, min(wanted, share) + 1) if share % d == 0)


def _parallel_args(cfg: RunConfig, world: int) -> dict:
    """TrainingArguments for several processes: gloo between CPU processes (NCCL is the GPU default), every LoRA
    weight used in each step (no search for unused ones), and FSDP2 where asked."""
    if world == 1:
        return {}
    args = {"ddp_find_unused_parameters": False, **({} if uses_cuda() else {"ddp_backend": "gloo"})}
    if cfg.strategy == "fsdp":
        args.update(fsdp=True, fsdp_config={"version": 2, "reshard_after_forward": True,
                                            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP"})
    return args


class StepCount(TrainerCallback):
    """Tells the run's engine context of every optimizer step (engine/context.py: the grouped LoRA operands are made
    again after one), from the run's own Trainer: no process-wide optimizer hook."""

    def __init__(self, context):
        self.context = context

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.context is not None:
            self.context.stepped()


class Training:
    """One training, built before the engine is entered: the Trainer with its plan, sampler and hooks; `run` inside
    the engine (train/session.py enters it), `result` after it is left. `after_training(mean evaluation seconds)`
    estimates the seconds the run needs after its last step (the progress events' ETA of the whole run)."""

    def __init__(self, model, tokenizer, train: list[dict], valid: list[dict], cfg: RunConfig, checkpoints: Path,
                 on_event: EventSink, plan: paths.EnginePlan, context=None, baseline: Baseline | None = None,
                 history: list[dict] | None = None, after_training=None):
        from transformers import EarlyStoppingCallback, TrainingArguments

        world, rank = distributed.world(), distributed.rank()
        self.cfg, self.checkpoints, self.plan = cfg, Path(checkpoints), plan
        self.lora = cfg.method == "lora"
        self.precision = plan.precision
        self.total, every = plan_steps(len(train), cfg)
        has_valid = bool(valid)
        self.baseline = baseline or Baseline(float("nan"))
        micro = micro_batch(cfg, uses_cuda(), world)
        per_process = cfg.batch_size // world
        args = TrainingArguments(
            output_dir=str(checkpoints), per_device_train_batch_size=micro,
            gradient_accumulation_steps=per_process // micro,
            per_device_eval_batch_size=cfg.batch_size, max_steps=self.total, learning_rate=cfg.learning_rate,
            lr_scheduler_type="linear", warmup_steps=warmup_steps(cfg, self.total), weight_decay=cfg.weight_decay,
            bf16=self.precision == "bf16", use_cpu=not uses_cuda(), logging_steps=max(1, every // 2),
            eval_strategy="steps" if has_valid else "no", eval_steps=every, save_strategy="steps", save_steps=every,
            save_total_limit=None if self.lora else 2, load_best_model_at_end=has_valid and not self.lora,
            metric_for_best_model="eval_loss",
            greater_is_better=False, disable_tqdm=True, report_to=[], seed=cfg.seed, data_seed=cfg.seed,
            remove_unused_columns=False, dataloader_num_workers=0,
            include_num_input_tokens_seen="non_padding", log_level="error", prediction_loss_only=True,
            logging_nan_inf_filter=False,  # a NaN loss is logged as NaN (the default hides it in the window's mean)
            **checkpointing_args(cfg.gradient_checkpointing), **_parallel_args(cfg, world),
        )
        total = self.total
        self.progress = ProgressCallback(on_event, self.precision, tokenizer.pad_token_id, self.baseline,
                                         cfg.batch_size, history or [], plan, after_training=after_training,
                                         evals_left=lambda step: evals_left(step, total, every))
        self.pages = PageCache() if plan.uses("page_cache") else None
        callbacks = [self.progress, StepCount(context)] + ([self.pages] if self.pages else [])
        if has_valid and cfg.patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
        sampler = StepSampler([len(e["input_ids"]) for e in train], cfg.batch_size, per_process // micro, cfg.seed,
                              rank=rank, world=world)
        kl = KLTerm(self.baseline.kl_rows, cfg.kl_general) if self.lora and cfg.kl_general and \
            self.baseline.kl_rows else None
        self.trainer = AnswerLossTrainer(
            model=model, args=args, train_dataset=train, eval_dataset=valid or None,
            data_collator=PackCollator(tokenizer.pad_token_id, PAD_MULTIPLE), callbacks=callbacks,
            plan=plan, sampler=sampler, noise=neftune.hook(cfg.neftune, cfg.seed), kl=kl, pages=self.pages)
        self.trainer.remove_callback(PrinterCallback)  # the engine reports through events only

    def run(self, resume: bool = False) -> None:
        """The Trainer's loop (from the last checkpoint with `resume`), inside the engine the session entered."""
        if resume and not has_checkpoint(self.checkpoints):
            raise RunError(f"nothing to resume: no checkpoint in '{self.checkpoints}'")
        with neftune.attached(self.trainer.model, self.trainer.noise):
            finished = _finished_checkpoint(self.checkpoints, self.total) if resume else None
            if finished is None:
                self.trainer.train(resume_from_checkpoint=True if resume else None)
            else:  # cut off after its last save (while exporting): the Trainer would train a step past the end
                _restore_finished(self.trainer, finished, self.lora)

    def result(self) -> TrainResult:
        """What the training gives, once the engine is left: divergence refused, the best-balanced checkpoint
        restored (rank 0; the other ranks of a distributed run only report their facts)."""
        trainer, progress, cfg = self.trainer, self.progress, self.cfg
        if progress.diverged:
            step, which, value = progress.diverged
            raise RunError(f"training diverged: the {which} was {value} at step {step} (learning rate "
                           f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
        state = trainer.state
        world = distributed.world()
        parallel = {"processes": world, "strategy": cfg.strategy if world > 1 else "single",
                    "fsdp": bool(getattr(trainer, "is_fsdp_enabled", False)),
                    "accelerate": str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1]}
        facts = dict(model=trainer.model, precision=self.precision, steps=state.global_step, max_steps=self.total,
                     stopped_early=state.global_step < self.total, train_seconds=progress.busy,
                     tokens_trained=int(state.num_input_tokens_seen), engine=self.plan, parallel=parallel,
                     tokens_this_start=progress.tokens_trained(state))
        if not distributed.is_main():  # rank 0 chooses, restores and exports
            return TrainResult(best_step=None, best_valid_loss=None, **facts)
        candidates, picked = guard_choice(progress.evals, self.baseline)
        if picked:
            if self.lora:
                load_adapter(trainer.model, self.checkpoints / f"checkpoint-{picked.step}")
            else:
                picked = next((c for c in candidates if c.step == _step_of(state.best_model_checkpoint)), picked)
        return TrainResult(best_step=picked.step if picked else None,
                           best_valid_loss=picked.valid_loss if picked else None, candidates=candidates,
                           chosen=picked, eval_seconds=progress.mean_eval_s(), final_eval_s=progress.final_eval_s(),
                           **facts)


class AnswerLossTrainer(Trainer):
    """Trainer whose loss runs the LM head at answer positions only (engine/loss.py), in packed micro-batches drawn
    by its sampler (engine/collate.py, StepSampler); the loss is summed over a batch's micro-batches and divided by
    its answer tokens, so the gradient equals that of the whole batch in one pass. It is handed, at construction:
    `plan` (engine/paths.py: which path each part of the loss takes), `sampler`, and its hooks: `noise`
    (train/neftune.py, told each row's example bounds), `kl` (train/kl.py, where the run keeps close to the base
    model on general text) and `pages` (engine/page_cache.py: freed pages handed back around evaluations)."""

    loss_is_scaled_for_ga = True  # compute_loss divides by the whole batch's answer tokens

    def __init__(self, *args, plan: paths.EnginePlan, sampler: StepSampler | None = None, noise=None,
                 kl: KLTerm | None = None, pages: PageCache | None = None, **kwargs):
        self.plan, self.steps, self.noise, self.kl, self.pages = plan, sampler, noise, kl, pages
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = True  # so the Trainer counts num_items_in_batch ...
        self._loss_shifts_labels = True  # ... over labels[:, 1:], as answer_nll predicts them

    def get_train_dataloader(self):
        """Micro-batches as the StepSampler draws them, each packed into one row."""
        from torch.utils.data import DataLoader

        if self.steps is None:
            return super().get_train_dataloader()
        loader = DataLoader(self.train_dataset, batch_sampler=self.steps, collate_fn=self.data_collator,
                            num_workers=0)
        prepared = self.accelerator.prepare(loader)
        shard = getattr(prepared, "batch_sampler", None)  # the StepSampler deals each process its share
        if getattr(shard, "batch_sampler", None) is self.steps:  # already: accelerate's shard must pass all on
            shard.num_processes, shard.process_index = 1, 0
        return prepared

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        """Validation loss per answer token, batches sorted by length under inference mode (the Trainer's
        loop pads examples in file order and averages batch means), on the parts of the engine the run entered."""
        started = time.perf_counter()
        if self.pages is not None:
            self.pages.release()  # training's cached pages do not fit evaluation's rows
        examples = eval_dataset if eval_dataset is not None else self.eval_dataset
        loss = answer_loss(self.model, examples, self.data_collator.pad_id, self.args.per_device_eval_batch_size,
                           "bf16" if self.args.bf16 else "fp32")
        metrics = {f"{metric_key_prefix}_loss": loss, f"{metric_key_prefix}_runtime": time.perf_counter() - started}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        if self.pages is not None:
            self.pages.release()  # nor evaluation's (and the probe's) training's
        return metrics

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # accelerate puts autocast on model.forward; answer_nll calls the decoder itself, so it sets it here
        if self.noise is not None:
            self.noise.bounds = inputs.get("cu_seq_lens_q")
        with autocast("bf16" if self.args.bf16 else "fp32", inputs["input_ids"].device.type):
            nll, count = batch_nll(model, inputs, self.plan)
            loss = nll / (num_items_in_batch if num_items_in_batch is not None else max(count, 1))
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                loss = loss * self.accelerator.num_processes  # the count is all processes'; DDP averages
            if self.kl and model.training:  # one general window per micro-batch, the step's mean
                loss = loss + self.kl(model) / self.args.gradient_accumulation_steps
        return (loss, {"loss": loss}) if return_outputs else loss


def batch_nll(model, inputs: dict, plan: paths.EnginePlan | None):
    """(summed answer NLL, answer tokens) of a collated batch (a packed row or a padded batch) on the paths the
    plan chose: per-example attention from `cu_seq_lens_q`, or transformers' masks from the position ids; the
    fused LM head, or the model's own logits. No plan: every part as fast as the model allows."""
    fast_attention = plan is None or plan.uses("attention")
    packing = {k: inputs[k] for k in ("position_ids", "cu_seq_lens_q") if k in inputs
               and (fast_attention or k == "position_ids")}
    return answer_nll(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"],
                      plan is None or plan.uses("loss_head"), **packing)


def guard_choice(evals: list[dict], baseline) -> tuple[list, "balance.Candidate | None"]:
    """The balance guard's candidates from a run's evaluations (scored against the base) and the checkpoint it
    keeps; ([], None) before any evaluation."""
    candidates = [balance.Candidate(r["step"], r["valid_loss"], r.get("probe_loss"), text_loss=r.get("text_loss"),
                                    cloze_accuracy=r.get("cloze_accuracy")) for r in evals]
    if not candidates:
        return [], None
    balance.score(candidates, baseline.reference())
    return candidates, balance.choose(candidates)[0]


def _finished_checkpoint(checkpoints: Path, total: int) -> Path | None:
    """The complete checkpoint at the run's last step, where one exists."""
    path = checkpoints / f"checkpoint-{total}"
    return path if (path / "trainer_state.json").is_file() else None


def _restore_finished(trainer, checkpoint: Path, lora: bool) -> None:
    """Take a finished run's state from its last checkpoint: the Trainer's state (the steps, the best
    checkpoint) and, for full fine-tuning, the best weights (a LoRA run loads the adapter it chooses)."""
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    if not lora:
        trainer._load_from_checkpoint(trainer.state.best_model_checkpoint or str(checkpoint))


def evals_left(step: int, total: int, every: int) -> int:
    """Evaluations still to come after `step` (every `every` steps, and at the last)."""
    return len({s for s in range(step + 1, total + 1) if s % every == 0} | ({total} if step < total else set()))


def uses_cuda() -> bool:
    """Whether the run computes on a CUDA device (every trainer of a run asks the same)."""
    import torch

    return torch.cuda.is_available()


def has_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a checkpoint a run can resume from."""
    return folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())


def _step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None
