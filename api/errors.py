"""Error responses: always JSON that can be encoded, always with a ``message`` a person can read.

The README promises ``{"detail": ..., "message": "..."}`` for every refusal; ``detail`` stays as FastAPI
shapes it (clients read it), ``message`` is added next to it. An askdocs error (``index.errors``) is answered
here and nowhere else, with its own status, plus its ``code`` and ``hint``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from askdocs.index.errors import AskdocsError, describe_validation

# What FastAPI answers (400) when reading the body raised something other than a JSONDecodeError.
_UNPARSEABLE_BODY = "There was an error parsing the body"


# How deep an echoed input is kept; below, a placeholder. Bodies nested up to the JSON parser's limit (about
# 1,000 levels) parse, and echoing one whole would exhaust the recursion limit while answering.
MAX_ECHO_DEPTH = 20


def json_safe(value, depth: int = 0):
    """``value`` with what JSON cannot carry made printable: NaN and Infinity become strings, lone surrogates
    backslash escapes, containers nested deeper than MAX_ECHO_DEPTH a placeholder. A refusal often echoes the
    very input that was refused, and that must not fail too."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_ECHO_DEPTH:
        return f"(nested more than {MAX_ECHO_DEPTH} levels deep; not echoed)"
    if isinstance(value, dict):
        return {json_safe(k, depth + 1): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    return value


def error_response(status: int, detail, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=json_safe({"detail": detail, "message": message}),
                        headers=headers)


def why_unparseable(exc: BaseException | None) -> str | None:
    """What is wrong with a body Python's JSON parser gave up on, or None if it was not the body's fault."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply (arrays or objects about 1,000 levels deep)"
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "it holds an integer of more than 4,300 digits"
    if isinstance(exc, ValueError):
        return str(exc)[:200]
    return None


def askdocs_error_response(exc: AskdocsError) -> JSONResponse:
    """``exc`` as HTTP: its status; ``detail`` shaped as FastAPI shapes the same status (a list of errors for
    422, a string otherwise), so a client reads every refusal of that status alike."""
    text = str(exc)
    detail = ([{"type": "value_error", "loc": list(getattr(exc, "loc", ())) or ["body"], "msg": text}]
              if exc.status == 422 else text)
    return JSONResponse(status_code=exc.status, content=json_safe(
        {"detail": detail, "message": text, "code": exc.code, "hint": exc.hint}))


def install_error_handlers(app: FastAPI) -> None:
    """Every askdocs error answered with its status; every HTTPException (404, 405, 503, ...) answered with a
    ``message`` too; a body that is not JSON at all answered like every other bad body: 422, not FastAPI's
    bare 400; every validation error with a ``message`` in words."""

    @app.exception_handler(AskdocsError)
    async def askdocs_error(request: Request, exc: AskdocsError) -> Response:
        return askdocs_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        return JSONResponse(status_code=422, content={
            "detail": jsonable_encoder(json_safe(_jsonable(errors))), "message": json_safe(describe_validation(errors))})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
            why = why_unparseable(exc.__cause__)
            if why is not None:
                message = f"request body is not valid JSON: {why}"
                return error_response(422, [{"type": "json_invalid", "loc": ["body"], "msg": message}], message)
        if exc.status_code in (204, 304) or exc.status_code < 200:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return error_response(exc.status_code, exc.detail, _message(request, exc), exc.headers)


def _message(request: Request, exc: StarletteHTTPException) -> str:
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"nothing at {request.url.path}; GET /docs lists the API"
    return exc.detail if isinstance(exc.detail, str) else "the request was refused"


def _jsonable(errors: Sequence[dict]) -> list[dict]:
    # pydantic puts the exception object in ctx; JSON cannot carry it.
    return [{**e, "ctx": {k: str(v) for k, v in e["ctx"].items()}} if "ctx" in e else e for e in errors]


class HeadMiddleware:
    """Answers HEAD like GET without the body, so monitors that check with HEAD see /health's status.
    /mcp is left alone: its GET is an event stream, which a HEAD must not open."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"].startswith("/mcp"):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                # Content-Length stays that of the GET, as HEAD requires; only the bytes are left out.
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class JsonBodyMiddleware:
    """Reads a form-typed body as the JSON it almost always is: curl's ``-d`` labels its data
    application/x-www-form-urlencoded, and no route here takes a form. A body that is not JSON then gets
    the usual 422 that says so."""

    FORM = b"application/x-www-form-urlencoded"

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope["path"].startswith("/mcp"):
            headers = scope["headers"]
            if any(name == b"content-type" and value.split(b";")[0].strip().lower() == self.FORM
                   for name, value in headers):
                headers = [(name, b"application/json") if name == b"content-type" else (name, value)
                           for name, value in headers]
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class Utf8PathMiddleware:
    """Refuses an API address whose %-escapes are not UTF-8 (``/documents/%ED%A0%80``): decoded leniently it
    would ask for a different id, made of U+FFFD. The page under /view/ loads anyway and says what is wrong."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/view/"):
            raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            try:
                unquote_to_bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                message = (f"the address is not valid UTF-8 once %-decoded (byte 0x{exc.object[exc.start]:02x}); "
                           "percent-encode the UTF-8 bytes of the id")
                response = error_response(422, [{"type": "value_error", "loc": ["path"], "msg": message}], message)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
