"""/v1/models and /v1/chat/completions (streamed as server-sent events when asked), for base and tuned models."""

from __future__ import annotations

import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from anchortune.app import chat, models
from anchortune.errors import ConfigError

router = APIRouter(prefix="/v1", tags=["models"])


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str
    messages: list[dict]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stream: bool = False


@router.get("/models")
def list_models(request: Request) -> dict:
    return {"object": "list", "data": models.served_models(request.app.state.workspace)}


@router.get("/models/{model_id:path}")
def retrieve_model(request: Request, model_id: str) -> dict:
    found = [m for m in models.served_models(request.app.state.workspace) if m["id"] == model_id]
    if not found:
        from anchortune.errors import NotFoundError

        raise NotFoundError(f"unknown model '{model_id}'")
    return found[0]


@router.post("/chat/completions")
def chat_completions(request: Request, body: ChatRequest):
    """Greedy unless a temperature above 0 is given (small models ramble when sampled at 1.0)."""
    if body.n != 1:
        raise ConfigError("n: only one choice per request is supported")
    limit = body.max_completion_tokens or body.max_tokens or 256
    if not 1 <= limit <= 4096:
        raise ConfigError("max_tokens: expected 1 to 4096")
    pieces = chat.stream_reply(request.app.state.workspace, body.model, body.messages, limit,
                               body.temperature or 0.0, body.top_p or 1.0)
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        return StreamingResponse(_chunks(pieces, reply_id, created, body.model, limit),
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


def _chunks(pieces, reply_id: str, created: int, model: str, limit: int):
    def chunk(delta: dict, finish: str | None = None) -> str:
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    while True:
        try:
            yield chunk({"content": next(pieces)})
        except StopIteration as stop:
            completion = (stop.value or (0, 0))[1]
            break
    yield chunk({}, "length" if completion >= limit else "stop")
    yield "data: [DONE]\n\n"
