"""What stands between the network and the routes: request ids, API keys, body limits, and who may bind where.

Plain ASGI middleware rather than route dependencies, so the same rules cover every route, the mounted MCP
app included, and a rejected request never reaches a handler or has its body read.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
import uuid
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.settings import Settings

log = logging.getLogger("askdocs.access")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("askdocs_request_id", default=None)
# An incoming id is kept only if it cannot forge log lines or bloat them.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class KeyConfigError(ValueError):
    """The configured keys cannot be used; the message says what to fix (and never contains a key)."""


# ---------------------------------------------------------------- configuration


def key_digests(settings: Settings) -> list[bytes]:
    """sha256 digests of every configured key: ASKDOCS_API_KEYS (plain) and ASKDOCS_API_KEYS_FILE (digests)."""
    digests = [
        hashlib.sha256(key.strip().encode()).digest()
        for key in settings.api_keys.get_secret_value().split(",")
        if key.strip()
    ]
    if settings.api_keys_file is not None:
        digests.extend(_read_key_file(Path(settings.api_keys_file)))
    return digests


def _read_key_file(path: Path) -> list[bytes]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(f"cannot read the API key file {path} ({exc.__class__.__name__})") from None
    digests = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip().lower()
        if not line:
            continue
        if not _SHA256_HEX.fullmatch(line):
            # The line is not echoed: it may be a key someone pasted by mistake.
            raise KeyConfigError(
                f"line {number} of {path} is not a sha256 hex digest; the file holds digests, not keys "
                "(make one with: printf %s 'KEY' | sha256sum)"
            )
        digests.append(bytes.fromhex(line))
    if not digests:
        raise KeyConfigError(f"the API key file {path} holds no key digests")
    return digests


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cors_origins(settings: Settings) -> list[str]:
    return [origin.strip().rstrip("/") for origin in settings.cors_origins.split(",") if origin.strip()]


# ---------------------------------------------------------------- middleware


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": data})


class RequestIdMiddleware:
    """Gives each request an id (a sane incoming X-Request-ID, else a new one), in the response and the log."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The path only: query strings carry questions, and no header (so no key) is ever logged.
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status or "-",
                     (time.perf_counter() - started) * 1000)
            REQUEST_ID.reset(token)


class ApiKeyMiddleware:
    """When keys are configured, every request but the public ones needs ``Authorization: Bearer <key>``."""

    def __init__(self, app: ASGIApp, digests: list[bytes]):
        self.app = app
        self.digests = digests

    @staticmethod
    def is_public(method: str, path: str) -> bool:
        # /health for monitors; the page's files and the API docs, which hold nothing from the index, so a
        # browser can load them and then send the key with the page's own API calls.
        if method not in ("GET", "HEAD"):
            return False
        return (path in ("/health", "/", "/docs", "/docs/oauth2-redirect", "/openapi.json")
                or path.startswith(("/web/", "/view/")))

    def authorised(self, header: str | None) -> bool:
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        digest = hashlib.sha256(presented.strip().encode()).digest()
        # Every digest is compared, so the time taken says nothing about which key (if any) came close.
        found = False
        for known in self.digests:
            found |= hmac.compare_digest(digest, known)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.digests or self.is_public(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        if self.authorised(header):
            await self.app(scope, receive, send)
            return
        detail = ("this server needs an API key: send the header 'Authorization: Bearer <key>'" if header is None
                  else "the API key was not accepted: send 'Authorization: Bearer <key>' with a configured key")
        await _send_json(send, 401, {"detail": detail}, [(b"www-authenticate", b"Bearer")])


class BodyLimitMiddleware:
    """Refuses request bodies over ``limit`` bytes with a 413, declared or streamed, before a handler reads them."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    def _message(self, size: str) -> dict:
        return {"detail": f"request body is {size}; the limit is {self.limit} bytes (ASKDOCS_MAX_BODY_BYTES)"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json(send, 400, {"detail": "the Content-Length header is not a number"})
                return
            if int(declared) > self.limit:
                await _send_json(send, 413, self._message(f"{int(declared)} bytes"))
                return
        received = 0
        started = cut_off = False

        async def counting_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request" and not cut_off:
                received += len(message.get("body", b""))
                if received > self.limit:
                    cut_off = True
                    if not started:
                        await _send_json(send, 413, self._message(f"over {self.limit} bytes"))
                    # To the app the client has gone: it stops reading, and what it answers is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut_off:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestIdFormatter(logging.Formatter):
    """The server's log format: lines logged while handling a request carry its id."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{line} [request {request_id}]" if request_id else line
