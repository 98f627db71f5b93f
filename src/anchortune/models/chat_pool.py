"""Loaded chat models shared by a server's requests: the few used last kept in memory, one lock each, and the
check a chat request's messages pass before they reach one."""

from __future__ import annotations

import threading
from collections import OrderedDict

from anchortune import service
from anchortune.errors import ConfigError


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
        chat = service.open_chat(spec)
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
