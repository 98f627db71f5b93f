"""The typed run configuration, validated in one place; each field's description is its --help text.

Fields left None take the task preset's default when the run is resolved (`resolve`), so the
config.yaml written into a run folder is complete and repeats the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anchortune.data.presets import Preset
from anchortune.errors import ConfigError


class RunConfig(BaseModel):
    """Everything that decides a fine-tuning run."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: str = Field(description="Anchor points: a JSONL or CSV file.")
    task: str = Field("custom", description="Task preset: support, legal, invoice, classification or custom.")
    model: str | None = Field(None, description="Catalog name, local HF folder, local .gguf file or hub id.")
    input_col: str | None = Field(None, description="CSV column holding the prompt.")
    output_col: str | None = Field(None, description="CSV column holding the answer.")
    label_col: str | None = Field(None, description="CSV column holding the label or intent.")
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter on all linear layers, or full fine-tuning.")
    epochs: float | None = Field(None, gt=0, description="Passes over the training split (preset default).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (overrides epochs).")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate (preset default).")
    batch_size: int | None = Field(None, gt=0, description="Examples per optimizer step (preset default).")
    max_length: int | None = Field(None, ge=16, description="Context length in tokens; longer examples are truncated (counted).")
    lora_r: int | None = Field(None, gt=0, description="LoRA rank (preset default).")
    lora_alpha: int | None = Field(None, gt=0, description="LoRA scaling alpha (preset default).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path (off by default: on 2 CPU cores it cost ~40% of step time).")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of anchor points held out for validation.")
    eval_every: int | None = Field(None, gt=0, description="Evaluate and checkpoint every N steps (default: ~8 per run).")
    patience: int = Field(3, ge=0, description="Early stopping: evaluations without improvement before stopping (0: off).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming the learning rate up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="bf16 autocast where the CPU/GPU supports it, else fp32.")
    seed: int = Field(42, description="Seed for the split, initialisation and data order.")

    @classmethod
    def build(cls, **values) -> "RunConfig":
        """Validate user values into a config, turning pydantic's errors into one ConfigError."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid run options: {problems}") from None

    def resolve(self, preset: Preset) -> "RunConfig":
        """A copy with every open hyperparameter filled from the preset."""
        hp = preset.hyperparameters
        filled = {name: getattr(hp, name) for name in
                  ("epochs", "learning_rate", "batch_size", "max_length", "lora_r", "lora_alpha")
                  if getattr(self, name) is None}
        return self.model_copy(update=filled)

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        import yaml

        return cls.build(**yaml.safe_load(path.read_text(encoding="utf-8")))

    def dump(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(), sort_keys=False, allow_unicode=True)
