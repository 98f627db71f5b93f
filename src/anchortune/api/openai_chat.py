"""/v1/models and /v1/chat/completions (streamed as server-sent events when asked), for base and tuned models and
the checkpoints a job lists. Parameters are checked as OpenAI checks them (max_tokens and max_completion_tokens
from 1, temperature 0-2, top_p 0-1, n 1 here); message content may be a string or a list of text parts;
stream_options.include_usage adds the usage chunk before [DONE]."""

from __future__ import annotations

import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from anchortune.app import chat, models
from anchortune.errors import ConfigError

router = APIRouter(prefix="/v1", tags=["models"])


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str
    messages: list[dict]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int = Field(1, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None


@router.get("/models")
def list_models(request: Request) -> dict:
    return {"object": "list", "data": models.served_models(request.app.state.workspace)}


@router.get("/models/{model_id:path}")
def retrieve_model(request: Request, model_id: str) -> dict:
    return models.served_model(request.app.state.workspace, model_id)


@router.post("/chat/completions")
def chat_completions(request: Request, body: ChatRequest):
    """Greedy unless a temperature above 0 is given (small models ramble when sampled at 1.0)."""
    if body.n != 1:
        raise ConfigError("n: only one choice per request is supported", param="n")
    if body.stream_options is not None and not body.stream:
        raise ConfigError("stream_options: only allowed when stream is true", param="stream_options")
    named = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    limit = 256 if named is None else named
    if not 1 <= limit <= 4096:
        raise ConfigError("max_tokens: expected 1 to 4096", param="max_completion_tokens"
                          if body.max_completion_tokens is not None else "max_tokens")
    pieces = chat.stream_reply(request.app.state.workspace, body.model, body.messages, limit,
                               body.temperature or 0.0, 1.0 if body.top_p is None else body.top_p)
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_chunks(pieces, reply_id, created, body.model, limit, usage),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    text, (prompt, completion) = _drain(pieces)
    return {"id": reply_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if completion >= limit else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


def _drain(pieces) -> tuple[str, tuple[int, int]]:
    parts = []
    while True:
        try:
            parts.append(next(pieces))
        except StopIteration as stop:
            return "".join(parts).strip(), stop.value or (0, 0)


def _chunks(pieces, reply_id: str, created: int, model: str, limit: int, usage: bool = False):
    def chunk(delta: dict | None, finish: str | None = None, counts: tuple[int, int] | None = None) -> str:
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            body["usage"] = None if counts is None else {"prompt_tokens": counts[0], "completion_tokens": counts[1],
                                                         "total_tokens": sum(counts)}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    while True:
        try:
            yield chunk({"content": next(pieces)})
        except StopIteration as stop:
            counts = stop.value or (0, 0)
            break
    yield chunk({}, "length" if counts[1] >= limit else "stop")
    if usage:
        yield chunk(None, counts=counts)  # OpenAI's last chunk: no choices, the usage
    yield "data: [DONE]\n\n"
