"""Preference tuning with TRL's own trainers: DPO (`DPOTrainer`) and ORPO, its reference-free variant
(`trl.experimental.orpo.ORPOTrainer`: no reference model at all, the odds ratio added to the chosen answer's loss).

LoRA on all linear layers: TRL wraps the model itself from the LoRA config, so DPO's reference is the base model
through the disabled adapter, with no second copy in memory (a full fine-tune of DPO would need one and is refused;
ORPO trains a full model too); the adapter's first weights are drawn again from the run's own seeded generator
(train/adapter.py's seed_lora), and nothing is seeded or quieted process-wide here (libraries.py). It runs on the
standard engine, transformers + PEFT as they are: no fast part has a parity test under these losses (TRL's own
fused LM head scores the answer positions only, on a CPU as on CUDA: libraries.trl_head_on_labelled_positions, set
once a process, with its parity test). The pairs come rendered by the model's chat template (data/pair_tokens.py,
what the context cuts counted there, so TRL drops and cuts nothing unsaid). As a supervised run, it evaluates about
EVALS_PER_RUN times on held-out pairs (the held-out loss, and TRL's reward accuracy and margin), measures general
ability at each evaluation against the base model's (general text, cloze: ProgressCallback), keeps every adapter
and restores the one with the best balance of gain (the held-out loss) and retention (evaluate/balance.py); it
stops early after `patience` evaluations without improvement. Events only; it writes nothing but checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from anchortune import libraries
from anchortune.config import PREFERENCE_OBJECTIVES, RunConfig
from anchortune.errors import ConfigError, RunError
from anchortune.evaluate import balance
from anchortune.train.adapter import load_adapter, seed_lora
from anchortune.train.engine import (Baseline, TrainResult, checkpointing_args, uses_cuda, evals_left, has_checkpoint,
                                     guard_choice, micro_batch, plan_steps, warmup_steps)
from anchortune.train.events import Event, EventSink
from anchortune.train.progress import ProgressCallback

OBJECTIVES = PREFERENCE_OBJECTIVES  # the preference objectives
STANDARD_ONLY = "no fast part has a parity test under the preference losses"


def general_baseline(model, tokenizer, cfg: RunConfig, chosen: str) -> Baseline:
    """The base model's general ability (general text, cloze: evaluate/general.py), the yardstick of retention;
    the held-out loss is filled in by `preference_tune` (TRL's own evaluation of the untrained model)."""
    from anchortune.evaluate import general

    material = general.general_set(tokenizer)
    scores = general.measure(model, material, tokenizer.pad_token_id, cfg.batch_size, chosen)
    text, cloze = balance.informative(scores.get("text_loss"), scores.get("cloze_accuracy"), len(tokenizer))
    return Baseline(valid_loss=float("nan"), general=material, text_loss=text, cloze_accuracy=cloze, measured=scores)


def refuse_unsupported(cfg: RunConfig) -> None:
    """ConfigError for what a preference run cannot do, before any work."""
    if cfg.objective == "dpo" and cfg.method == "full":
        raise ConfigError("--objective dpo trains a LoRA adapter (its reference is the base model through the disabled "
                          "adapter, with no second copy in memory); use --method lora, or --objective orpo, which needs "
                          "no reference, for a full fine-tune", param="method")
    for name, value, off in (("replay", cfg.replay, 0.0), ("kl_general", cfg.kl_general, 0.0),
                             ("neftune", cfg.neftune, None)):
        if value != off:
            raise ConfigError(f"--{name.replace('_', '-')} applies to supervised runs; a preference run keeps close to "
                              "the base model through its reference (DPO) or its loss on the chosen answers (ORPO)",
                              param=name)
    if cfg.devices * cfg.nodes > 1:
        raise ConfigError("preference runs train on one process; use --devices 1", param="devices")


def preference_tune(model, tokenizer, train_rows: list[dict], valid_rows: list[dict], cfg: RunConfig,
                    checkpoints: Path, on_event: EventSink, baseline: Baseline, resume: bool = False,
                    history: list[dict] | None = None) -> TrainResult:
    """Train `model` (a plain causal LM: TRL adds the LoRA adapter) on text rows {prompt, chosen, rejected} and
    restore its best-balanced checkpoint; `baseline.valid_loss` is set to the untrained model's held-out loss."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback

    from anchortune.engine import paths
    from anchortune.engine import precision as precision_mod

    chosen = precision_mod.choose(cfg.precision)
    lora = cfg.method == "lora"
    total, every = plan_steps(len(train_rows), cfg)
    micro = micro_batch(cfg, uses_cuda())
    args = _arguments(cfg, checkpoints, total, every, micro, chosen, has_valid=bool(valid_rows))
    libraries.trl_head_on_labelled_positions()
    with libraries.BUILDING:  # TRL wraps the model with PEFT's adapter here (libraries.py)
        trainer = _trainer(cfg)(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                                eval_dataset=Dataset.from_list(valid_rows) if valid_rows else None,
                                processing_class=tokenizer, peft_config=_lora_config(cfg) if lora else None)
    if lora:  # the adapter's first weights from the run's own generator (train/engine.py), not the process's
        seed_lora(trainer.model, cfg.seed)
    trainer.remove_callback(PrinterCallback)
    reference = _reference(trainer, cfg)
    plan = paths.plan(trainer.model, "standard", chosen, lora, cfg.gradient_checkpointing,
                      device="cuda" if uses_cuda() else "cpu")
    if valid_rows:  # the untrained adapter (a resumed run loads its checkpoint when training starts): the base model
        baseline.valid_loss = float(trainer.evaluate()["eval_loss"])
    progress = ProgressCallback(on_event, chosen, tokenizer.pad_token_id, baseline, cfg.batch_size, history or [],
                                plan, evals_left=lambda step: evals_left(step, total, every))
    trainer.add_callback(progress)
    if valid_rows and cfg.patience:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    return train_trl(trainer, progress, plan, cfg, checkpoints, resume, baseline, total, reference,
                     f"{plan.describe()} ({STANDARD_ONLY})", on_event)


def train_trl(trainer, progress: ProgressCallback, plan, cfg: RunConfig, checkpoints: Path, resume: bool,
              baseline: Baseline, total: int, reference: str, engine_line: str, on_event: EventSink) -> TrainResult:
    """A TRL trainer's loop (DPO, ORPO, GRPO: train/reinforce.py), from the last checkpoint with `resume`; divergence
    refused; the balance guard's checkpoint restored; what the training gives."""
    if resume and not has_checkpoint(checkpoints):
        raise RunError(f"nothing to resume: no checkpoint in '{checkpoints}'")
    on_event(Event("info", 0, {"message": engine_line}))
    trainer.train(resume_from_checkpoint=True if resume else None)
    if progress.diverged:
        step, which, value = progress.diverged
        raise RunError(f"training diverged: the {which} was {value} at step {step} (learning rate "
                       f"{cfg.learning_rate:g}); nothing of it can be kept: lower --lr and train again")
    candidates, picked = guard_choice(progress.evals, baseline)
    if picked:
        if cfg.method == "lora":
            load_adapter(trainer.model, checkpoints / f"checkpoint-{picked.step}")
        else:
            trainer._load_from_checkpoint(str(checkpoints / f"checkpoint-{picked.step}"))
    state = trainer.state
    chosen = plan.precision
    return TrainResult(model=trainer.model, precision=chosen, steps=state.global_step, max_steps=total,
                       best_step=picked.step if picked else None,
                       best_valid_loss=picked.valid_loss if picked else None, stopped_early=state.global_step < total,
                       train_seconds=progress.busy, tokens_trained=int(state.num_input_tokens_seen),
                       candidates=candidates, chosen=picked, engine=plan,
                       parallel={"processes": 1, "strategy": "single"},
                       tokens_this_start=progress.tokens_trained(state), eval_seconds=progress.mean_eval_s(),
                       reference=reference)


def _reference(trainer, cfg: RunConfig) -> str:
    """What the run's reference model is, checked on the trainer: DPO must hold no second copy of the model."""
    if cfg.objective == "orpo":
        return "none (ORPO needs no reference model)"
    adapters = getattr(trainer.model, "peft_config", {})
    if trainer.ref_model is not None or not adapters or "ref" in adapters:
        raise RunError("DPO would keep a second copy of the model as its reference; anchortune trains a fresh LoRA "
                       "adapter so that the base model itself, the adapter disabled, is the reference")
    return "the base model (the LoRA adapter disabled): no second copy in memory"


def _trainer(cfg: RunConfig):
    if cfg.objective == "dpo":
        from trl import DPOTrainer

        return DPOTrainer
    from trl.experimental.orpo import ORPOTrainer

    return ORPOTrainer


def _lora_config(cfg: RunConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _arguments(cfg: RunConfig, checkpoints: Path, total: int, every: int, micro: int, chosen: str, has_valid: bool):
    """DPOConfig or ORPOConfig: the supervised run's schedule, evaluation and checkpoints, and beta."""
    common = dict(
        output_dir=str(checkpoints), per_device_train_batch_size=micro,
        gradient_accumulation_steps=cfg.batch_size // micro, per_device_eval_batch_size=cfg.batch_size, max_steps=total,
        learning_rate=cfg.learning_rate, lr_scheduler_type="linear", warmup_steps=warmup_steps(cfg, total),
        weight_decay=cfg.weight_decay, bf16=chosen == "bf16", use_cpu=not uses_cuda(), logging_steps=max(1, every // 2),
        eval_strategy="steps" if has_valid else "no", eval_steps=every, save_strategy="steps", save_steps=every,
        save_total_limit=None if cfg.method == "lora" else 2, metric_for_best_model="eval_loss",
        greater_is_better=False, disable_tqdm=True, report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        dataloader_num_workers=0, include_num_input_tokens_seen="non_padding", log_level="error",
        logging_nan_inf_filter=False, max_length=cfg.max_length, beta=cfg.beta,
        **checkpointing_args(cfg.gradient_checkpointing))
    if cfg.objective == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common, loss_type=["sigmoid"], precompute_ref_log_probs=False)
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(**common, remove_unused_columns=False)
