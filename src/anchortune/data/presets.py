"""Task presets: data (YAML shipped in the package), not code paths.

A preset says how an anchor point becomes the messages the model trains on, what the answer must
look like (free text, a label from a set, JSON with named fields), its metric and its default
hyperparameters. Knows nothing about tokenizers or training.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from anchortune.config import TASKS
from anchortune.data.records import AnchorPoint
from anchortune.errors import ConfigError


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["text", "label", "json"] = Field(description="What an answer is: free text, one label, or JSON.")
    labels: list[str] = Field(default_factory=list, description="Allowed labels; empty means inferred from the data.")
    fields: list[str] = Field(default_factory=list, description="JSON keys an answer carries (format json).")


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: float = 3
    learning_rate: float = 4e-4
    lora_r: int = 16
    lora_alpha: int = 32
    batch_size: int = 8
    max_length: int = 512


class Quality(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_examples: int = Field(50, description="Fewer anchor points than this is too small a set for the task.")
    expected_personal_data: list[str] = Field(default_factory=list, description=(
        "Kinds of contact data the task's documents carry by nature (reported as info, not warning)."))


LISTED_LABELS = 20


class Preset(BaseModel):
    """One task: how records become messages and what good answers look like."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    system_prompt: str
    user_template: str = "{input}"
    output: OutputFormat
    metric: str
    grader: dict = Field(description="The reward of a reinforcement run without a grader of its own: a grader in "
                                     "OpenAI's JSON shape (evaluate/graders.py); labels and fields are the preset's.")
    hyperparameters: Hyperparameters
    quality: Quality

    def resolved_for(self, points: list[AnchorPoint]) -> "Preset":
        """The preset with labels or JSON fields inferred from the data where the YAML leaves them open."""
        output = self.output.model_copy()
        if output.format == "label" and not output.labels:
            counts = Counter(p.label or p.answer.strip() for p in points)
            output.labels = sorted(counts)
        if output.format == "json":
            keys = _json_keys(points)
            if keys:
                output.fields = keys
        return self.model_copy(update={"output": output})

    def system_text(self) -> str:
        """The system prompt with its label set or fields filled in. Over 20 labels are not listed: 77
        banking intents alone cost ~400 tokens in every example and the examples teach them anyway."""
        text = self.system_prompt
        labels = self.output.labels
        listed = ", ".join(labels) if len(labels) <= LISTED_LABELS else f"the {len(labels)} labels of the examples"
        text = text.replace("{labels}", listed)
        return text.replace("{fields}", ", ".join(self.output.fields))

    def to_messages(self, point: AnchorPoint) -> list[dict[str, str]]:
        """The conversation the model trains on for one anchor point."""
        return self.frame(list(point.messages))

    def frame(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """Messages as the model sees them: user template on the first user turn, the preset's system
        prompt in front unless the conversation brings its own."""
        framed = [dict(m) for m in messages]
        first_user = next((i for i, m in enumerate(framed) if m["role"] == "user"), None)
        if first_user is not None:
            framed[first_user]["content"] = self.user_template.replace("{input}", framed[first_user]["content"])
        system = self.system_text()
        if system and (not framed or framed[0]["role"] != "system"):
            framed.insert(0, {"role": "system", "content": system})
        return framed


def _json_keys(points: list[AnchorPoint]) -> list[str]:
    keys: dict[str, None] = {}
    for point in points:
        try:
            value = json.loads(point.answer)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(value, dict):
            keys.update(dict.fromkeys(value))
    return list(keys)


PRESET_NAMES = TASKS  # declared with the run config (config.py)


@cache
def load_preset(name: str) -> Preset:
    """The preset shipped under that name; ConfigError naming the choices otherwise."""
    if name not in PRESET_NAMES:
        raise ConfigError(f"--task {name!r} is not a task preset: choose one of {', '.join(PRESET_NAMES)}")
    text = resources.files("anchortune.data.task_presets").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return Preset.model_validate(yaml.safe_load(text))
