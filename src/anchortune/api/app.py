"""The FastAPI app factory: routers, static files, the request guard, errors as OpenAI-style JSON.

The guard, before any route: the Host header must name this studio (loopback names, or the configured
`allowed_hosts`: a page on another site that rebinds its DNS name to 127.0.0.1 carries its own name and is
refused); a state-changing request from a browser must come from one of those hosts (Origin, else Referer: a
cross-site form post is refused); the bearer token where one is set; the upload size before reading.

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
from anchortune.api.pages import COOKIE, error_page
from anchortune.app import jobs
from anchortune.app.workspace import Workspace

HERE = Path(__file__).parent
OPEN_PATHS = ("/static/", "/login", "/healthz")


def create_app(workspace: Workspace, workers: int = 1) -> FastAPI:
    """The studio app over `workspace`, with `workers` embedded worker threads."""
    from anchortune.api import openai_chat, openai_files, openai_jobs, pages

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        host = f"{socket.gethostname()}:{os.getpid()}"  # unique per process: leases tell workers apart by name
        threads = [threading.Thread(target=jobs.worker(workspace, name=f"{host}:embedded-{i}").run, args=(stop,),
                                    daemon=True, name=f"anchortune-worker-{i}") for i in range(workers)]
        for thread in threads:
            thread.start()
        yield
        stop.set()
        workspace.checks.close()

    app = FastAPI(title="anchortune studio", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.workspace = workspace
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (openai_files, openai_jobs, openai_chat, pages):
        app.include_router(module.router)
    app.middleware("http")(_guard(workspace))
    app.add_middleware(BodyLimit, limit=workspace.config.max_upload_bytes + 64 * 1024)
    app.exception_handler(AnchortuneError)(_error_response)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"ok": True}

    return app


LOOPBACK_NAMES = ("localhost",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(value: str) -> str:
    """The host of a Host header or URL authority, without port or IPv6 brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_loopback(host: str) -> bool:
    """localhost, or an address in 127.0.0.0/8 or ::1 (decided by ipaddress, not by the text)."""
    import ipaddress

    host = host_name(host)
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    name = host_name(host)
    return bool(name) and ("*" in allowed or is_loopback(name) or name in {host_name(a) for a in allowed})


def _refused(message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                   "code": code}}, status_code=403 if code == "cross_site_request" else 400)


def _guard(workspace: Workspace):
    """Host allow-list, cross-site check of state-changing requests, bearer token (header or the login cookie)
    when the studio has one, upload size before reading."""
    from urllib.parse import urlsplit

    async def guard(request: Request, call_next):
        allowed = workspace.config.allowed_hosts
        if not host_allowed(request.headers.get("host", ""), allowed):
            return _refused(f"host '{request.headers.get('host', '')}' is not one this studio serves; start it with "
                            "--allowed-host NAME to add it", "host_not_allowed")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin") or request.headers.get("referer")
            if origin is not None and not (origin != "null" and host_allowed(urlsplit(origin).netloc, allowed)):
                return _refused(f"a {request.method} from '{origin}' is a cross-site request; it is refused",
                                "cross_site_request")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > workspace.config.max_upload_bytes + 64 * 1024:
            return _error_response(request, TooLargeError(
                f"request body over the upload limit of {workspace.config.max_upload_bytes // (1024 * 1024)} MiB"))
        token = workspace.config.token
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


class BodyLimit:
    """Counts a request body while it is read and stops it at `limit` bytes with a 413: a chunked upload without
    Content-Length is never spooled whole before the limit is known (ASGI middleware, outermost). Past the limit
    the app is told the client left, and whatever it answers to that is replaced by the 413."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen, over, answered = 0, False, False

        async def counted():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def too_large():
            nonlocal answered
            if not answered:
                answered = True
                await JSONResponse({"error": {"message": f"request body over the upload limit of "
                                                         f"{self.limit // (1024 * 1024)} MiB",
                                              "type": "invalid_request_error", "param": None,
                                              "code": "TooLargeError"}}, status_code=413)(scope, receive, send)

        async def guarded(message):
            if over:
                await too_large()
            else:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over:
            await too_large()


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/v1/") and "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, exc: AnchortuneError):
    status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else \
        413 if isinstance(exc, TooLargeError) else 400
    if _wants_html(request):
        return error_page(request, str(exc), status)
    return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": None,
                                   "code": exc.__class__.__name__}}, status_code=status)
