"""The FastAPI app factory: routers, static files, bearer-token guard, errors as OpenAI-style JSON.

Embedded workers (threads) start with the app and stop with it; a job they leave unfinished is
resumed by the next worker once its lease runs out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from anchortune.errors import AnchortuneError, ConflictError, NotFoundError, TooLargeError
from anchortune.studio import Studio

HERE = Path(__file__).parent
OPEN_PATHS = ("/static/", "/login", "/healthz")
COOKIE = "anchortune_token"


def create_app(studio: Studio, workers: int = 1) -> FastAPI:
    """The studio app over `studio`, with `workers` embedded worker threads."""
    from anchortune.api import openai_chat, openai_files, openai_jobs, pages

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        host = f"{socket.gethostname()}:{os.getpid()}"  # unique per process: leases tell workers apart by name
        threads = [threading.Thread(target=studio.worker(name=f"{host}:embedded-{i}").run, args=(stop,),
                                    daemon=True, name=f"anchortune-worker-{i}") for i in range(workers)]
        for thread in threads:
            thread.start()
        yield
        stop.set()

    app = FastAPI(title="anchortune studio", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.studio = studio
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (openai_files, openai_jobs, openai_chat, pages):
        app.include_router(module.router)
    app.middleware("http")(_guard(studio))
    app.exception_handler(AnchortuneError)(_error_response)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"ok": True}

    return app


def _guard(studio: Studio):
    """Bearer token (header or the login cookie) when the studio has one; upload size before reading."""

    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > studio.config.max_upload_bytes + 64 * 1024:
            return _error_response(request, TooLargeError(
                f"request body over the upload limit of {studio.config.max_upload_bytes // (1024 * 1024)} MiB"))
        token = studio.config.token
        if token and not request.url.path.startswith(OPEN_PATHS):
            given = request.headers.get("authorization", "")
            given = given[7:] if given.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
            if not secrets.compare_digest(given.encode(), token.encode()):
                if _wants_html(request):
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return JSONResponse({"error": {"message": "missing or wrong bearer token", "type": "auth_error",
                                               "param": None, "code": "invalid_api_key"}}, status_code=401)
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return guard


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/v1/") and "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, exc: AnchortuneError):
    status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else \
        413 if isinstance(exc, TooLargeError) else 400
    if _wants_html(request):
        from anchortune.api.pages import error_page

        return error_page(request, str(exc), status)
    return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": None,
                                   "code": exc.__class__.__name__}}, status_code=status)
