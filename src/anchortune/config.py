"""The typed run configuration, validated in one place; each field's description is its --help text.

Fields left None take the task preset's default when the run is resolved (`resolve`), so the
config.yaml written into a run folder is complete and repeats the run.
"""

from __future__ import annotations

from pathlib import Path
import types
import typing
from typing import Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anchortune.errors import ConfigError, RunError
from anchortune.messages import LANGUAGES, json_kind

PREFERENCE = {"epochs": 1 / 3, "lr": 0.25}  # a preference run's multipliers on the preset's defaults: DPO moves a model
# further per step than demonstrations do (the calibration in bench/results/preference_tools.md)
REINFORCEMENT = {"epochs": 1 / 3, "lr": 0.25}  # a reinforcement run's: each prompt is answered num_generations times
# per step, and the policy gradient moves the adapter as DPO's does (bench/results/reinforce.md)
PROFILES = {  # multipliers on the preset's defaults (explicit options always win)
    "conservative": {"rank": 0.5, "epochs": 2 / 3, "lr": 0.5},
    "balanced": {"rank": 1.0, "epochs": 1.0, "lr": 1.0},
    "aggressive": {"rank": 2.0, "epochs": 1.5, "lr": 1.5},
}
FLAGS = {"learning_rate": "--lr"}  # the command line's name of a field, where it is not --field-name
# The task presets, one YAML file each in data/task_presets/ (a new task: its file and its name here); the command
# line, the studio's form and the preset loader read this list
TASKS = ("support", "legal", "invoice", "classification", "custom")
# The experiment-tracking backends of --track (tracking/: one writer module each, but none); the run option, a job's
# hyperparameter and the studio's settings read this list
TRACKERS = ("none", "tensorboard", "mlflow")
# What a run learns from (recipes/: the task run for supervised, the preference run for dpo and orpo, the reinforcement
# run for reinforcement); the run option, a job's method and the studio's new-job form read this list
OBJECTIVES = ("supervised", "dpo", "orpo", "reinforcement")
PREFERENCE_OBJECTIVES = ("dpo", "orpo")


class RunConfig(BaseModel):
    """Everything that decides a fine-tuning run."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    data: str = Field(description="Anchor points: a JSONL or CSV file.")
    task: str = Field("custom", description=f"Task preset: {', '.join(TASKS[:-1])} or {TASKS[-1]}.")
    model: str | None = Field(None, description="Catalog name, local HF folder, local .gguf file or hub id.")
    input_col: str | None = Field(None, description="CSV column holding the prompt.")
    output_col: str | None = Field(None, description="CSV column holding the answer.")
    label_col: str | None = Field(None, description="CSV column holding the label or intent.")
    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="CSV delimiter (default: whichever of , ; tab splits the header).")
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter on all linear layers, or full fine-tuning.")
    objective: Literal[OBJECTIVES] = Field(  # type: ignore[valid-type]
        "supervised", description="What the run learns from: supervised (each anchor point's answers, tool calls "
                                  "included), dpo (preference pairs: the chosen answer over the rejected one, the base "
                                  "model as the reference through the disabled LoRA adapter) or orpo (preference pairs, "
                                  "no reference: the chosen answers' loss plus an odds-ratio term) or reinforcement "
                                  "(GRPO: several sampled answers per prompt scored by a grader, the better ones "
                                  "pushed up; anchor points' answers are the graders' references).")
    beta: float = Field(0.1, gt=0, le=10, description="Preference runs: DPO's beta (higher keeps the tuned model closer "
                                                      "to the base model) or ORPO's lambda (the odds-ratio term's "
                                                      "weight); reinforcement runs: the KL penalty's weight to the base "
                                                      "model (0.1 unless given).")
    grader: dict | None = Field(None, description="Reinforcement runs: the grader, a JSON file in OpenAI's grader shape "
                                                  "(string_check, text_similarity, json_fields, label, numeric, "
                                                  "python, multi; default: the task preset's).")
    num_generations: int = Field(4, ge=2, le=64, description="Reinforcement runs: answers sampled per prompt, scored "
                                                             "against each other (the batch size must be a multiple).")
    max_answer_tokens: int = Field(128, ge=1, le=65_536, description="Reinforcement runs: the longest sampled answer, "
                                                                     "in tokens.")
    chat_template: str | None = Field(None, min_length=1, description="The chat template conversations are rendered "
                                      "with: a .jinja file, or chatml-tools (ChatML with tools and <tool_call> tags) for a "
                                      "model whose own template cannot render tool calls (default: the model's own).")
    epochs: float | None = Field(None, gt=0, le=1000, description="Passes over the training split (preset default).")
    max_steps: int | None = Field(None, gt=0, le=10_000_000, description="Stop after this many optimizer steps (overrides epochs).")
    learning_rate: float | None = Field(None, gt=0, le=1, description="Peak learning rate (preset default).")
    batch_size: int | None = Field(None, gt=0, le=4096, description="Examples per optimizer step (preset default).")
    micro_batch_size: int | None = Field(None, gt=0, le=4096, description="Examples per forward pass, on average: a batch "
                                         "trains as batch/micro-batch packed rows of balanced token counts whose "
                                         "gradients add up to the batch's, so results match while memory shrinks "
                                         "(default: 2 on CPU, the whole batch on a GPU).")
    max_length: int | None = Field(None, ge=16, le=1_048_576, description="Context length in tokens; longer examples are truncated (counted).")
    lora_r: int | None = Field(None, gt=0, le=4096, description="LoRA rank (preset default).")
    lora_alpha: int | None = Field(None, gt=0, le=65_536, description="LoRA scaling alpha (preset default).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path (off by default: on 2 CPU cores it cost ~40% of step time).")
    valid_data: str | None = Field(None, description="Held-out anchor points in their own file (instead of a split).")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of anchor points held out for validation.")
    eval_every: int | None = Field(None, gt=0, le=10_000_000, description="Evaluate and checkpoint every N steps (default: ~8 per run).")
    patience: int = Field(3, ge=0, le=1_000_000, description="Early stopping: evaluations without improvement before stopping (0: off).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming the learning rate up (none when that is under 3 steps).")
    weight_decay: float = Field(0.0, ge=0, le=10, description="AdamW weight decay.")
    profile: Literal["conservative", "balanced", "aggressive"] = Field(
        "balanced", description="Rank, epochs and learning rate: conservative (half rank, 2/3 epochs, half rate), "
                                "balanced (the preset's) or aggressive (double rank, 1.5x epochs and rate).")
    replay: float = Field(0.0, ge=0, le=1, description="Add this share of general replay samples (the base model's "
                                                       "own answers to general prompts) against forgetting.")
    kl_general: float = Field(0.0, ge=0, le=100, description="Weight of a KL term that keeps the tuned model's next-token "
                                                     "distributions on general text close to the base model's (LoRA "
                                                     "only; e.g. 0.1; two extra forwards per micro-batch).")
    neftune: float | None = Field(None, gt=0, le=1000, description="NEFTune noise alpha on the embeddings (e.g. 5).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward: about half the "
                                                            "memory for about a quarter more time.")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="bf16 autocast where the CPU/GPU supports it, else fp32.")
    engine: Literal["auto", "fast", "standard"] = Field(
        "auto", description="Training engine: standard (plain transformers + PEFT, any causal LM, CPU or GPU), fast "
                            "(anchortune's own parts wherever a parity test proves them for the model) or auto (the "
                            "fast parts where they are also faster on this device; the run says which part took "
                            "which path and why).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for the split, initialisation and data order.")
    devices: int = Field(1, ge=1, le=1024, description="Processes per machine training together, data-parallel: GPUs, or "
                                              "CPU processes sharing the cores (train/distributed.py).")
    nodes: int = Field(1, ge=1, le=1024, description="Machines training together (each runs the same command with its "
                                            "--node-rank and node 0's --master address).")
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp", description="With more than one process: ddp (every process holds the whole model; LoRA's usual "
                           "choice) or fsdp (FSDP2, GPUs only: parameters, gradients and optimizer state sharded across "
                           "processes, for a model that does not fit one device).")
    track: Literal[TRACKERS] = Field(  # type: ignore[valid-type]
        "none", description="Experiment tracking: tensorboard (event files in RUN/tensorboard/) or mlflow (a SQLite "
                            "store under the data folder, or --tracking-uri): curves, settings, the gate's scores, the "
                            "guard's choice, the verdict and the report (pip install 'anchortune[track]').")
    language: Literal[LANGUAGES] = Field(  # type: ignore[valid-type]
        "en", description="Language of what the run writes for people: report.html, report.md and the model card "
                          "(en or de; the command line passes its --lang, the studio its page's language).")
    tracking_uri: str | None = Field(None, min_length=1, max_length=2000,
                                     description="Where --track mlflow writes: a tracking server (http://...) or store "
                                                 "(default: MLFLOW_TRACKING_URI, else sqlite in the data folder's "
                                                 "mlflow/); credentials go in MLFLOW_TRACKING_USERNAME / _PASSWORD.")

    @classmethod
    def build(cls, **values) -> "RunConfig":
        """Validate user values into a config, turning pydantic's errors into one ConfigError that names each
        option by its flag and says what it takes (`--lr must be a finite number > 0, not inf`)."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(_problem(e) for e in exc.errors())
            first = exc.errors()[0]["loc"] if exc.errors() else ()
            raise ConfigError(f"invalid run options: {problems}", param=".".join(map(str, first)) or None) from None

    def resolve(self, preset) -> "RunConfig":
        """A copy with every open hyperparameter filled from the task preset (data/presets.py's Preset, handed in:
        config sits below data), shaped by the profile."""
        hp = preset.hyperparameters
        factor = dict(PROFILES[self.profile])
        if self.objective != "supervised":
            shape = REINFORCEMENT if self.objective == "reinforcement" else PREFERENCE
            factor.update(epochs=factor["epochs"] * shape["epochs"], lr=factor["lr"] * shape["lr"])
        defaults = {"epochs": hp.epochs * factor["epochs"], "learning_rate": hp.learning_rate * factor["lr"],
                    "lora_r": max(4, int(hp.lora_r * factor["rank"])), "lora_alpha": max(8, int(hp.lora_alpha * factor["rank"])),
                    "batch_size": hp.batch_size, "max_length": hp.max_length}
        return self.model_copy(update={k: v for k, v in defaults.items() if getattr(self, k) is None})

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """The config a run folder keeps; RunError naming the file when it is unreadable, not YAML or not a
        run's options (truncated, emptied, overwritten)."""
        import yaml

        damaged = f"'{path}' is damaged: the run's config cannot be read"
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RunError(f"{damaged} ({reason}); restore it or train again") from None
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise RunError(f"{damaged} (expected the run's options, one per line, found "
                           f"{json_kind(values) if values is not None else 'nothing'}); restore it or train again")
        try:
            return cls.build(**values)
        except ConfigError as exc:
            raise RunError(f"{damaged} ({exc}); restore it or train again") from None

    def dump(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(), sort_keys=False, allow_unicode=True)


def flag(field: str) -> str:
    """The command-line flag of a config field."""
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def expected(field: str) -> str:
    """What a config field takes, in words: 'a finite number > 0', 'a whole number >= 16 and <= 1048576',
    'one of lora, full'."""
    info = RunConfig.model_fields[field]
    kind = info.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(kind)))
    if kind is bool:
        return "true or false"
    if kind is str:
        return "one character" if field == "delimiter" else "text"
    bounds = []
    for rule in info.metadata:
        for name, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if isinstance(rule, getattr(annotated_types, name.capitalize())):
                bounds.append(f"{sign} {getattr(rule, name):g}" if kind is float else f"{sign} {getattr(rule, name)}")
    noun = "a finite number" if kind is float else "a whole number"
    return " and ".join([f"{noun} {bounds[0]}" if bounds else noun, *bounds[1:]])


def _problem(error: dict) -> str:
    """One pydantic error in the words of the command line."""
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return f"unknown option '{field}'"
    if field not in RunConfig.model_fields:
        return f"{field}: {error['msg']}"
    given = error.get("input")
    shown = f", not {given!r}" if isinstance(given, str) else f", not {given}" if given is not None else ""
    return f"{flag(field)} must be {expected(field)}{shown}"
