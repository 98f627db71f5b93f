"""The general-ability probe: the base model's own greedy answers to general prompts shipped with anchortune.

Retention is measured as the tuned model's answer loss on these base answers against the base
model's own loss on them (its drift): a model that forgets drifts away from what it used to say on
general questions, whatever the task data. The second prompt list gives replay samples, kept
apart from the probe so replay cannot flatter the measurement. Answers are cached per base model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib import resources
from pathlib import Path

import yaml

from anchortune import settings
from anchortune.data.records import AnchorPoint

ANSWER_TOKENS = 48


def general_prompts(kind: str) -> list[str]:
    """The shipped general prompts: kind 'probe' or 'replay'."""
    text = resources.files("anchortune.evaluate").joinpath("general_prompts.yaml").read_text(encoding="utf-8")
    return list(yaml.safe_load(text)[kind])


def base_answers(model, tokenizer, kind: str, source: str | Path, precision: str = "fp32") -> list[AnchorPoint]:
    """The base model's greedy answers to the general prompts, as anchor points (cached on disk)."""
    from anchortune.evaluate.generation import generate

    prompts = general_prompts(kind)
    key = hashlib.sha256(f"{Path(str(source)).resolve()}|{kind}|{ANSWER_TOKENS}|{prompts}".encode()).hexdigest()[:16]
    cache = settings.home() / "probes" / f"{key}.json"
    if cache.is_file():
        answers = json.loads(cache.read_text(encoding="utf-8"))
    else:
        answers = generate(model, tokenizer, [[{"role": "user", "content": p}] for p in prompts],
                           max_new_tokens=ANSWER_TOKENS, precision=precision)
        cache.parent.mkdir(parents=True, exist_ok=True)
        staged = cache.with_name(f".{cache.name}.{os.getpid()}.{threading.get_ident()}")  # two runs at once: each
        staged.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")  # renames a whole file in
        os.replace(staged, cache)
    return [AnchorPoint(({"role": "user", "content": p}, {"role": "assistant", "content": a}), i)
            for i, (p, a) in enumerate(zip(prompts, answers), start=1) if a.strip()]
