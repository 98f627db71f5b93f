"""Chat through the application layer: a request's messages checked before any model loads, and the pool that keeps
the three chat models used last."""

from __future__ import annotations

import pytest

from anchortune.app import chat
from anchortune.errors import ConfigError


@pytest.mark.parametrize("messages,problem", [([], "non-empty"), ([{"role": "user"}], "messages\\[0\\]"),
                                              ([{"role": "robot", "content": "hi"}], "messages\\[0\\]"),
                                              ([{"role": "user", "content": "hi"},
                                                {"role": "assistant", "content": "hello"}], "the user's")])
def test_bad_messages_are_refused_with_the_field(messages, problem):
    with pytest.raises(ConfigError, match=problem):
        chat.check_messages(messages)


def test_the_pool_keeps_the_three_models_used_last(monkeypatch):
    opened = []
    monkeypatch.setattr(chat, "open_chat", lambda spec: opened.append(spec) or f"chat:{spec}")
    pool = chat.ChatPool()
    for spec in ("a", "b", "c", "a", "d", "a", "b"):
        pool.get(spec)
    assert opened == ["a", "b", "c", "d", "b"]  # 'a' stayed (used again), 'b' was dropped for 'd' and loaded again
    assert list(pool.loaded) == ["d", "a", "b"]
