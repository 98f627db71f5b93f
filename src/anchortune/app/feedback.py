"""Playground feedback: a thumbs-up, a thumbs-down or an edited answer becomes a preference pair in the studio's
feedback collection, and the collection becomes an uploaded dataset (a snapshot) to review, check and train on.

Knows nothing about pages or models: the playground sends the prompt and the two answers it showed.
"""

from __future__ import annotations

import json
import threading

from anchortune.errors import ConfigError
from anchortune.messages import say

FILENAME = "playground-feedback.jsonl"
RATINGS = ("up", "down")
_lock = threading.Lock()


def _collection(ws):
    return ws.data / "feedback" / FILENAME


def pair_of(prompt: str, answer: str, other: str | None, rating: str, edited: str | None = None) -> dict:
    """The preference pair a judgement makes, as data/pairs.py reads it: an edited answer is chosen over the answer
    (whatever the rating); a thumbs-up prefers the tuned answer to the base model's (`other`), a thumbs-down the
    base model's to the tuned answer. ConfigError where no pair can be made."""
    if rating not in RATINGS:
        raise ConfigError(say("e_feedback_rating", rating=str(rating)[:20]), param="rating")
    prompt, answer = (prompt or "").strip(), (answer or "").strip()
    if not prompt or not answer:
        raise ConfigError(say("e_feedback_empty"), param="prompt" if not prompt else "answer")
    edited = (edited or "").strip() or None
    if edited is not None and edited != answer:
        chosen, rejected = edited, answer
    else:
        other = (other or "").strip()
        if not other or other == answer:
            raise ConfigError(say("e_feedback_no_other"), param="edited")
        chosen, rejected = (answer, other) if rating == "up" else (other, answer)
    return {"prompt": [{"role": "user", "content": prompt}], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def record(ws, prompt: str, answer: str, other: str | None = None, rating: str = "down",
           edited: str | None = None) -> dict:
    """Add the pair a judgement makes to the collection; {"pairs": how many the collection holds, "pair": it}."""
    pair = pair_of(prompt, answer, other, rating, edited)
    path = _collection(ws)
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    return {"pairs": count(ws), "pair": pair}


def count(ws) -> int:
    path = _collection(ws)
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.is_file() else 0


def snapshot(ws) -> dict:
    """The collection as it is now, uploaded as a dataset of preference pairs (read and checked as any upload); the
    file row. ConfigError while the collection is empty."""
    from anchortune.app import datasets

    path = _collection(ws)
    with _lock:
        if not count(ws):
            raise ConfigError(say("e_feedback_none"))
        data = path.read_bytes()
    return datasets.upload(ws, FILENAME, [data])
