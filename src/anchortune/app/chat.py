"""Conversations with a model: one loaded for a terminal chat, batch answers to a prompts file, and a studio's
streamed replies from a pool of loaded chat models (the three used last, one lock each)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from anchortune.outputs import output_file
from anchortune.data.presets import Preset, load_preset
from anchortune.errors import ConfigError, DataError, Problem
from anchortune.run_folder import RunFolder

CHARS_PER_TOKEN = 4  # about, in the languages the presets serve: a message this many times the context cannot fit


@dataclass
class Chat:
    """A loaded model with its preset, ready to answer conversations."""

    model: object
    tokenizer: object
    preset: Preset
    precision: str

    def reply(self, history: list[dict], max_new_tokens: int = 256) -> str:
        """The answer to a conversation whose last turn is the user's; ConfigError for a message that cannot fit the
        model's context (the conversation's earlier turns are cut from the front to fit)."""
        from anchortune.evaluate.generation import context_length, generate

        context = context_length(self.model)
        said = len(history[-1]["content"]) if history else 0
        if context and said > CHARS_PER_TOKEN * context:
            raise ConfigError(f"the message is {said:,} characters; the model reads {context:,} tokens (about "
                              f"{CHARS_PER_TOKEN * context:,} characters): shorten it")
        return generate(self.model, self.tokenizer, [self.preset.frame(history)], max_new_tokens,
                        precision=self.precision)[0]


def open_chat(spec: str, task: str | None = None) -> Chat:
    """A run folder (its merged model and task), one of its checkpoints (RUN/checkpoints/checkpoint-N: the adapter
    saved there over the base model, or a full fine-tune's weights), or any model spec, loaded for conversation."""
    from anchortune.engine import precision
    from anchortune.models.loading import load_checkpoint, load_model, load_tokenizer, resolve_model

    path = Path(spec)
    if path.parent.name == "checkpoints" and path.name.startswith("checkpoint-") and RunFolder(path.parent.parent).is_run():
        run = RunFolder(path.parent.parent)
        cfg = run.load_config()
        base = resolve_model(cfg.model)
        preset = load_preset(task or cfg.task).resolved_for(_points(cfg))
        return Chat(load_checkpoint(path, base), load_tokenizer(base), preset, precision.choose("auto"))
    folder = RunFolder(spec)
    run_task = folder.check_finished().task if folder.is_run() else None  # every part looked at before loading
    preset = load_preset(task or run_task or "custom")
    source = resolve_model(spec)
    return Chat(load_model(source), load_tokenizer(source), preset, precision.choose("auto"))


def _points(cfg) -> list:
    """A run's anchor points where its file is still there (the preset's labels come from them), else none."""
    from anchortune.data.loading import CsvColumns, load_anchor_points

    try:
        return load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter))
    except Exception:  # noqa: BLE001 - the labels only shape the system prompt
        return []


def generate_batch(spec: str, prompts_file: str | Path, task: str | None = None, max_new_tokens: int = 256,
                   out: str | Path | None = None) -> list[dict]:
    """Answers for every prompt in a JSONL file (prompt/messages shapes), in file order; with `out`, also written
    there as JSONL (atomically; never onto the prompts file). Every prompt must fit the model's context with room
    for the answer (DataError naming each that does not), checked before any answer is generated."""
    from anchortune.data.loading import read_prompts
    from anchortune.evaluate.generation import context_length, generate

    if max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be a whole number >= 1, not {max_new_tokens}")
    if out is not None:
        out = output_file(out, "--out", inputs=[prompts_file])
    prompts = read_prompts(prompts_file)
    chat = open_chat(spec, task)
    conversations = [chat.preset.frame(item["messages"]) for item in prompts]
    _check_fit(chat, prompts, conversations, max_new_tokens, context_length(chat.model), str(prompts_file))
    answers = generate(chat.model, chat.tokenizer, conversations, max_new_tokens, precision=chat.precision)
    rows = [{"line": item["line"], "prompt": item["messages"][-1]["content"], "answer": a}
            for item, a in zip(prompts, answers)]
    if out is not None:
        RunFolder(out.parent).write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


def _check_fit(chat: Chat, prompts: list[dict], conversations: list[list[dict]], max_new_tokens: int,
               context: int | None, source: str) -> None:
    if not context:
        return
    room = context - max_new_tokens
    if room < 1:
        raise ConfigError(f"--max-new-tokens {max_new_tokens} leaves no room for a prompt: the model reads "
                          f"{context:,} tokens")
    texts = [chat.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    lengths = [len(ids) for ids in chat.tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    too_long = [Problem(source, item["line"], None, f"the prompt is {n:,} tokens; the model reads {context:,}, "
                                                    f"{max_new_tokens:,} of them for the answer: shorten it")
                for item, n in zip(prompts, lengths) if n > room]
    if too_long:
        raise DataError(too_long)


def stream_reply(ws, model_id: str, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0) -> Iterator[str]:
    """A studio's reply to a conversation, streamed in pieces; the generator returns (prompt, completion) tokens."""
    from anchortune.app.models import model_spec

    messages = plain_messages(messages)
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


def plain_messages(messages: list[dict]) -> list[dict]:
    """A chat request's messages as {role, content} with string content: a list of content parts (OpenAI's
    [{"type": "text", "text": ...}]) joined; the developer role read as system. ConfigError naming the message
    otherwise: roles system/developer/user/assistant, text parts only, the user's message last."""
    if not messages or not isinstance(messages, list):
        raise ConfigError("messages: expected a non-empty list of {role, content}", param="messages")
    out = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant"):
            raise ConfigError(f"messages[{i}].role: expected system, developer, user or assistant",
                              param=f"messages[{i}].role")
        content = m.get("content")
        if isinstance(content, list):
            kinds = [p.get("type") if isinstance(p, dict) else None for p in content]
            if any(k != "text" or not isinstance(p.get("text"), str) for k, p in zip(kinds, content)):
                raise ConfigError(f"messages[{i}].content: only text parts are supported (a model here reads no "
                                  "images, audio or files)", param=f"messages[{i}].content")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise ConfigError(f"messages[{i}].content: expected a string or a list of text parts",
                              param=f"messages[{i}].content")
        out.append({"role": "system" if role == "developer" else role, "content": content})
    if out[-1]["role"] != "user":
        raise ConfigError("messages: the last message must be the user's", param="messages")
    return out


def check_messages(messages: list[dict]) -> None:
    """A chat request's messages are ones `plain_messages` reads (ConfigError otherwise)."""
    plain_messages(messages)
