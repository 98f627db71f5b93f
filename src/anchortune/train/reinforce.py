"""Reinforcement tuning with TRL's `GRPOTrainer`: each step samples `num_generations` answers to each of its prompts,
a grader (evaluate/graders.py) scores them, and the answers better than their group's mean are pushed up; `beta`
weighs the KL penalty to the base model, which is the base model itself through the disabled LoRA adapter (no second
copy in memory).

LoRA on all linear layers: TRL wraps the model from the LoRA config inside `libraries.BUILDING`, and the adapter's
first weights are drawn again from the run's own seeded generator (train/adapter.py's seed_lora). It runs on the
standard engine, transformers + PEFT as they are: no fast part has a parity test under the policy-gradient loss.
About EVALS_PER_RUN times (and at the last step) it answers held-out prompts greedily and grades them (the held-out
reward), measures general ability against the base model's (ProgressCallback's retention), saves the adapter, and at
the end restores the checkpoint with the best balance of held-out reward and retention (evaluate/balance.py, the
reward's shortfall 1 - reward standing in for the validation loss). Progress rows carry the mean reward, its spread
within a prompt's group of answers, the answer length in tokens and the KL to the base. A grader that fails fails
the training (GraderError). Events only; it writes nothing but checkpoints.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from transformers import TrainerCallback

from anchortune import libraries
from anchortune.config import RunConfig
from anchortune.errors import ConfigError
from anchortune.evaluate.graders import Grader
from anchortune.train.adapter import seed_lora
from anchortune.train.engine import Baseline, TrainResult, uses_cuda, micro_batch, plan_steps, warmup_steps
from anchortune.train.events import Event, EventSink
from anchortune.train.preference import train_trl
from anchortune.train.progress import ProgressCallback

STANDARD_ONLY = "no fast part has a parity test under the policy-gradient loss"
EVAL_ROWS = 24  # held-out prompts answered at each evaluation during training (the final measure takes them all)


def refuse_unsupported(cfg: RunConfig) -> None:
    """ConfigError for what a reinforcement run cannot do, before any work."""
    if cfg.method == "full":
        raise ConfigError("--objective reinforcement trains a LoRA adapter (the KL penalty's reference is the base "
                          "model through the disabled adapter, with no second copy in memory); use --method lora",
                          param="method")
    for name, value, off in (("replay", cfg.replay, 0.0), ("kl_general", cfg.kl_general, 0.0),
                             ("neftune", cfg.neftune, None)):
        if value != off:
            raise ConfigError(f"--{name.replace('_', '-')} applies to supervised runs; a reinforcement run keeps close "
                              "to the base model through its KL penalty (--beta)", param=name)
    if cfg.devices * cfg.nodes > 1:
        raise ConfigError("reinforcement runs train on one process; use --devices 1", param="devices")


def reward_function(grader: Grader, group: int):
    """TRL's reward function over a grader: the rows' items come as JSON text (a column of the dataset), completions
    as chat turns; it logs the mean spread of the rewards within each prompt's group of answers."""

    def reward(prompts, completions, item, log_metric=None, **_):
        samples = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        scores = grader.score_all(samples, [json.loads(i) for i in item])
        spreads = [statistics.pstdev(scores[i:i + group]) for i in range(0, len(scores), group)]
        if log_metric is not None:
            log_metric("group_spread", sum(spreads) / max(1, len(spreads)))
        return scores

    reward.__name__ = grader.name
    return reward


def held_out_reward(model, tokenizer, grader: Grader, rows: list[dict], cfg: RunConfig, precision: str) -> dict:
    """Greedy answers to held-out prompts, graded: {"reward": mean, "answers": [...], "rewards": [...]}."""
    from anchortune.evaluate.generation import generate

    if not rows:
        return {"reward": None, "answers": [], "rewards": []}
    answers = generate(model, tokenizer, [r["prompt"] for r in rows], cfg.max_answer_tokens,
                       batch_size=max(8, cfg.batch_size), precision=precision)
    rewards = grader.score_all(answers, [json.loads(r["item"]) for r in rows])
    return {"reward": sum(rewards) / len(rewards), "answers": answers, "rewards": rewards}


class HeldOutReward(TrainerCallback):
    """Every `every` steps and at the last: the held-out reward and general retention, an eval row (its
    `valid_loss` the reward's shortfall, 1 - reward, for the balance guard), and a checkpoint."""

    def __init__(self, progress: ProgressCallback, tokenizer, grader: Grader, rows: list[dict], cfg: RunConfig,
                 precision: str, every: int, on_event: EventSink):
        self.progress, self.tokenizer, self.grader, self.rows = progress, tokenizer, grader, rows[:EVAL_ROWS]
        self.cfg, self.precision, self.every, self.on_event = cfg, precision, every, on_event

    def on_step_end(self, args, state, control, model=None, **kwargs):
        import time

        if state.global_step % self.every and state.global_step < state.max_steps:
            return
        started = time.perf_counter()
        measured = held_out_reward(model, self.tokenizer, self.grader, self.rows, self.cfg, self.precision)
        model.train()
        row = {"valid_loss": 1.0 - measured["reward"], "valid_reward": measured["reward"], "epoch": state.epoch,
               **self.progress._retention(model)}
        self.progress.evals = [r for r in self.progress.evals if r["step"] < state.global_step] + \
            [{"step": state.global_step, **row}]
        self.on_event(Event("eval", state.global_step, row))
        self.progress.eval_s.append(time.perf_counter() - started)
        control.should_save = True


def reinforce_tune(model, tokenizer, grader: Grader, train_rows: list[dict], valid_rows: list[dict],
                   cfg: RunConfig, checkpoints: Path, on_event: EventSink, baseline: Baseline, resume: bool = False,
                   history: list[dict] | None = None) -> TrainResult:
    """Train `model` (a plain causal LM: TRL adds the LoRA adapter) on rows {prompt: conversation, item: JSON text}
    and restore its best-balanced checkpoint; `baseline.valid_loss` is the base model's reward shortfall."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOTrainer

    from anchortune.engine import paths
    from anchortune.engine import precision as precision_mod

    chosen = precision_mod.choose(cfg.precision)
    total, every = plan_steps(len(train_rows), cfg)
    args = _arguments(cfg, checkpoints, total, every, micro_batch(cfg, uses_cuda()), chosen)
    libraries.trl_head_on_labelled_positions()
    with libraries.BUILDING:  # TRL wraps the model with PEFT's adapter here (libraries.py)
        trainer = GRPOTrainer(model=model, reward_funcs=[reward_function(grader, cfg.num_generations)], args=args,
                              train_dataset=Dataset.from_list(train_rows), processing_class=tokenizer,
                              peft_config=_lora_config(cfg))
    seed_lora(trainer.model, cfg.seed)  # the adapter's first weights from the run's own generator (train/adapter.py)
    trainer.remove_callback(PrinterCallback)
    plan = paths.plan(trainer.model, "standard", chosen, True, cfg.gradient_checkpointing,
                      device="cuda" if uses_cuda() else "cpu")
    progress = ProgressCallback(on_event, chosen, tokenizer.pad_token_id, baseline, cfg.batch_size, history or [],
                                plan)
    trainer.add_callback(progress)
    trainer.add_callback(HeldOutReward(progress, tokenizer, grader, valid_rows, cfg, chosen, every, on_event))
    return train_trl(trainer, progress, plan, cfg, checkpoints, resume, baseline, total,
                     "the base model (the LoRA adapter disabled): no second copy in memory",
                     f"{plan.describe()} ({STANDARD_ONLY})", on_event)


def _lora_config(cfg: RunConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _arguments(cfg: RunConfig, checkpoints: Path, total: int, every: int, micro: int, chosen: str):
    """GRPOConfig: `batch_size` prompts per optimizer step, `micro` of them (each with its group of answers) per
    forward pass; the supervised run's schedule; checkpoints where HeldOutReward evaluates."""
    from trl import GRPOConfig

    from anchortune.train.engine import checkpointing_args

    groups = cfg.num_generations
    return GRPOConfig(
        output_dir=str(checkpoints), per_device_train_batch_size=micro * groups,
        gradient_accumulation_steps=cfg.batch_size // micro, max_steps=total, learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear", warmup_steps=warmup_steps(cfg, total), weight_decay=cfg.weight_decay,
        bf16=chosen == "bf16", use_cpu=not uses_cuda(), logging_steps=1, eval_strategy="no", save_strategy="no",
        save_total_limit=None, disable_tqdm=True, report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        dataloader_num_workers=0, log_level="error", logging_nan_inf_filter=False,
        num_generations=groups, max_completion_length=cfg.max_answer_tokens, beta=cfg.beta, temperature=1.0,
        loss_type="dapo", scale_rewards="group", mask_truncated_completions=False,
        **checkpointing_args(cfg.gradient_checkpointing))

