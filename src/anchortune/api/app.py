"""The FastAPI app factory: routers, static files, the request guard, errors as OpenAI-style JSON.

The guard, before any route: the Host header must name this studio (loopback names, or the configured
`allowed_hosts`: a page on another site that rebinds its DNS name to 127.0.0.1 carries its own name and is
refused); a state-changing request from a browser must come from this studio's own origin (Origin, else Referer,
host and port as the Host header names them, or an allowed host: a page of another program on another loopback
port is another site, and its form post is refused); the bearer token where one is set; the upload size before
reading. Errors are OpenAI's envelope everywhere (api/errors.py).

Embedded workers (threads) start with the app and stop with it, at a lower CPU priority than the threads that
answer requests (EMBEDDED_NICE), so the pages and the API stay quick while a job trains on the same cores; a job
they leave unfinished is resumed by the next worker once its lease runs out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from anchortune.api import errors
from anchortune.api.pages import COOKIE
from anchortune.errors import TooLargeError
from anchortune.app import jobs
from anchortune.app.workspace import Workspace
from anchortune.messages import say

HERE = Path(__file__).parent
EMBEDDED_NICE = 10  # embedded workers train at a lower CPU priority: requests are served first (bench/studio_load.py)
OPEN_PATHS = ("/static/", "/login", "/healthz")


def create_app(workspace: Workspace, workers: int = 1) -> FastAPI:
    """The studio app over `workspace`, with `workers` embedded worker threads."""
    from anchortune.api import job_pages, openai_chat, openai_files, openai_graders, openai_jobs, pages

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        host = f"{socket.gethostname()}:{os.getpid()}"  # unique per process: leases tell workers apart by name
        threads = [threading.Thread(target=jobs.worker(workspace, name=f"{host}:embedded-{i}", nice=EMBEDDED_NICE).run,
                                    args=(stop,), daemon=True, name=f"anchortune-worker-{i}") for i in range(workers)]
        for thread in threads:
            thread.start()
        yield
        stop.set()
        workspace.checks.close()
        workspace.builds.close()

    app = FastAPI(title="anchortune studio", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.workspace = workspace
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (openai_files, openai_jobs, openai_graders, openai_chat, pages, job_pages):
        app.include_router(module.router)
    app.middleware("http")(_guard(workspace))
    app.add_middleware(BodyLimit, limit=workspace.config.max_upload_bytes + 64 * 1024)
    errors.install(app)

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


def same_origin(origin: str, host_header: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request's Origin (or Referer) is this studio: the very host and port its Host header names, or an
    allowed host by name (a proxy's, where the port people see is the proxy's). A loopback origin on another port
    is another program's page: not this studio."""
    from urllib.parse import urlsplit

    if origin == "null":
        return False
    parts = urlsplit(origin)
    default = {"http": "80", "https": "443"}.get(parts.scheme, "")
    authority = lambda value: value.lower() if ":" in value.rsplit("]", 1)[-1] else f"{value.lower()}:{default}"  # noqa: E731
    if parts.netloc and authority(parts.netloc) == authority(host_header):
        return True
    name = host_name(parts.netloc)
    return bool(name) and not is_loopback(name) and ("*" in allowed or name in {host_name(a) for a in allowed})


def _refused(request: Request, message: str, code: str):
    return errors.respond(request, message, 403 if code == "cross_site_request" else 400, code)


def _guard(workspace: Workspace):
    """Host allow-list, cross-site check of state-changing requests, bearer token (header or the login cookie)
    when the studio has one, upload size before reading."""

    async def guard(request: Request, call_next):
        allowed = workspace.config.allowed_hosts
        host = request.headers.get("host", "")
        if not host_allowed(host, allowed):
            return _refused(request, say("e_host_not_allowed", host=host), "host_not_allowed")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin") or request.headers.get("referer")
            if origin is not None and not same_origin(origin, host, allowed):
                return _refused(request, say("e_cross_site", method=request.method, origin=origin),
                                "cross_site_request")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > workspace.config.max_upload_bytes + 64 * 1024:
            return errors.anchortune_error(request, TooLargeError(
                f"request body over the upload limit of {workspace.config.max_upload_bytes // (1024 * 1024)} MiB"))
        token = workspace.config.token
        if token and not request.url.path.startswith(OPEN_PATHS):
            given = request.headers.get("authorization", "")
            given = given[7:] if given.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
            if not secrets.compare_digest(given.encode(), token.encode()):
                if errors.wants_html(request):
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return errors.envelope(say("e_wrong_token"), 401, "invalid_api_key")
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
                await errors.envelope(f"request body over the upload limit of {self.limit // (1024 * 1024)} MiB", 413,
                                      TooLargeError.code)(scope, receive, send)

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
