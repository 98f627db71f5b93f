"""Conversations with a model: one loaded for a terminal chat, batch answers to a prompts file, and a studio's
streamed replies from a pool of loaded chat models (the three used last, one lock each)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from anchortune.data.presets import Preset, load_preset
from anchortune.errors import ConfigError
from anchortune.run_folder import RunFolder


@dataclass
class Chat:
    """A loaded model with its preset, ready to answer conversations."""

    model: object
    tokenizer: object
    preset: Preset
    precision: str

    def reply(self, history: list[dict], max_new_tokens: int = 256) -> str:
        from anchortune.evaluate.generation import generate

        return generate(self.model, self.tokenizer, [self.preset.frame(history)], max_new_tokens,
                        precision=self.precision)[0]


def open_chat(spec: str, task: str | None = None) -> Chat:
    """A run folder (its merged model and task) or any model spec, loaded for conversation."""
    from anchortune.engine import precision
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model

    folder = RunFolder(spec)
    run_task = folder.load_config().task if folder.is_run() else None
    preset = load_preset(task or run_task or "custom")
    source = resolve_model(spec)
    return Chat(load_model(source), load_tokenizer(source), preset, precision.choose("auto"))


def generate_batch(spec: str, prompts_file: str | Path, task: str | None = None,
                   max_new_tokens: int = 256) -> list[dict]:
    """Answers for every prompt in a JSONL file (prompt/messages shapes), in file order."""
    from anchortune.data.loading import read_prompts
    from anchortune.evaluate.generation import generate

    prompts = read_prompts(prompts_file)
    chat = open_chat(spec, task)
    conversations = [chat.preset.frame(item["messages"]) for item in prompts]
    answers = generate(chat.model, chat.tokenizer, conversations, max_new_tokens, precision=chat.precision)
    return [{"line": item["line"], "prompt": item["messages"][-1]["content"], "answer": a}
            for item, a in zip(prompts, answers)]


def stream_reply(ws, model_id: str, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0) -> Iterator[str]:
    """A studio's reply to a conversation, streamed in pieces; the generator returns (prompt, completion) tokens."""
    from anchortune.app.models import model_spec

    check_messages(messages)
    spec = model_spec(ws, model_id)
    ws.chats.get(spec)  # load (or fail) before the first piece is promised
    return ws.chats.stream(spec, messages, max_tokens, temperature, top_p)


class ChatPool:
    """Loaded chat models by spec (the three used last), one lock each so answers do not interleave."""

    size = 3

    def __init__(self):
        self.loaded: OrderedDict[str, tuple] = OrderedDict()
        self.guard = threading.Lock()

    def get(self, spec: str):
        with self.guard:
            if spec in self.loaded:
                self.loaded.move_to_end(spec)
                return self.loaded[spec]
        chat = open_chat(spec)
        with self.guard:
            self.loaded[spec] = (chat, threading.Lock())
            while len(self.loaded) > self.size:
                self.loaded.popitem(last=False)
            return self.loaded[spec]

    def stream(self, spec: str, messages: list[dict], max_tokens: int, temperature: float, top_p: float):
        from anchortune.evaluate.generation import stream

        chat, lock = self.get(spec)
        with lock:
            counts = yield from stream(chat.model, chat.tokenizer, chat.preset.frame(messages), max_tokens,
                                       temperature, top_p, chat.precision)
        return counts


def check_messages(messages: list[dict]) -> None:
    """A chat request's messages: roles system/user/assistant with string content, the user's last."""
    if not messages or not isinstance(messages, list):
        raise ConfigError("messages: expected a non-empty list of {role, content}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                or not isinstance(m.get("content"), str):
            raise ConfigError(f"messages[{i}]: expected role system/user/assistant and string content")
    if messages[-1]["role"] != "user":
        raise ConfigError("messages: the last message must be the user's")
