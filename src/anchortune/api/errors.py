"""Errors as OpenAI's API writes them, everywhere: {"error": {"message", "type", "param", "code"}} with OpenAI's
status codes and types, for anchortune's own errors, request bodies that do not validate (400, never FastAPI's 422
{"detail": ...}), unknown routes and methods, the guard's refusals and a wrong token (401, invalid_api_key). A
person's browser (an HTML page or form) gets the error page instead, in its language. No message carries the
server's data folder.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from anchortune.errors import AnchortuneError, ConflictError, NotFoundError, StateError, TooLargeError
from anchortune.messages import say

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
         413: "invalid_request_error", 500: "server_error"}


def envelope(message: str, status: int, code: str | None, param: str | None = None) -> JSONResponse:
    """OpenAI's error body with its status code."""
    return JSONResponse({"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"),
                                   "param": param, "code": code}}, status_code=status)


def wants_html(request: Request) -> bool:
    """A browser navigating (an HTML page or a form post), not an API client."""
    return not request.url.path.startswith("/v1/") and "text/html" in request.headers.get("accept", "")


def status_of(exc: AnchortuneError) -> int:
    return 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) \
        and not isinstance(exc, StateError) else 413 if isinstance(exc, TooLargeError) else 400


def _scrub(request: Request, message: str) -> str:
    workspace = getattr(request.app.state, "workspace", None)
    if workspace is None:
        return message
    for root in {str(workspace.data.resolve()), str(workspace.data)}:
        message = message.replace(root + "/", "").replace(root, "")
    return message


def respond(request: Request, message: str, status: int, code: str | None, param: str | None = None):
    message = _scrub(request, message)
    if wants_html(request):
        from anchortune.api.pages import error_page

        return error_page(request, message, status)
    return envelope(message, status, code, param)


def anchortune_error(request: Request, exc: AnchortuneError):
    return respond(request, str(exc), status_of(exc), exc.code, getattr(exc, "param", None))


def validation_error(request: Request, exc: RequestValidationError):
    """A body or query that does not validate: OpenAI's 400 naming the parameter."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
    param = ".".join(loc) or None
    if first.get("type") == "missing":
        return respond(request, f"Missing required parameter: '{param}'.", 400, "missing_required_parameter", param)
    if first.get("type") == "json_invalid":
        return respond(request, "The request body is not valid JSON.", 400, "invalid_json", None)
    return respond(request, f"Invalid value for '{param}': {first.get('msg')}.", 400, "invalid_value", param)


def http_error(request: Request, exc: HTTPException):
    """Starlette's own errors (unknown route, wrong method): OpenAI's wording and codes."""
    if exc.status_code == 404:
        return respond(request, say("e_unknown_url", method=request.method, path=request.url.path), 404,
                       "unknown_url")
    if exc.status_code == 405:
        return respond(request, f"Method {request.method} is not allowed for {request.url.path}.", 405,
                       "method_not_allowed")
    return respond(request, str(exc.detail), exc.status_code, None)


def install(app) -> None:
    app.exception_handler(AnchortuneError)(anchortune_error)
    app.exception_handler(RequestValidationError)(validation_error)
    app.exception_handler(HTTPException)(http_error)

