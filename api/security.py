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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from askdocs.index.errors import BadInput
from askdocs.index.settings import Settings

log = logging.getLogger("askdocs.access")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("askdocs_request_id", default=None)
# An incoming id is kept only if it cannot forge log lines or bloat them.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# A collection name: also what may follow a key in ASKDOCS_API_KEYS, so no ',', ':', '+' or '='.
COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Where ApiKeyMiddleware leaves the matched key's collections in the ASGI scope.
KEY_COLLECTIONS = "askdocs.key_collections"


class KeyConfigError(BadInput, ValueError):
    """The configured keys cannot be used; the message says what to fix (and never contains a key)."""

    code = "bad_api_keys"


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its sha256 digest, and the collections it may use (None: every collection)."""

    digest: bytes
    collections: frozenset[str] | None = None
    where: str = ""  # "entry 2 of ASKDOCS_API_KEYS" or "line 3 of FILE", for error messages (never the key)


def api_keys(settings: Settings, collections: Collection[str] | None = None) -> list[ApiKey]:
    """Every configured key: ASKDOCS_API_KEYS (``KEY`` or ``KEY:docs+hr``) and ASKDOCS_API_KEYS_FILE (``DIGEST``
    or ``DIGEST docs hr``). With ``collections`` (the names served), a key limited to a collection the server does
    not have is refused: it is a typo, or a key containing ':' that this syntax now splits."""
    keys = []
    entries = [entry.strip() for entry in settings.api_keys.get_secret_value().split(",")]
    for number, entry in enumerate((e for e in entries if e), 1):
        key, scoped, names = entry.rpartition(":") if ":" in entry else (entry, "", "")
        where = f"entry {number} of ASKDOCS_API_KEYS"
        if scoped and not key:
            raise KeyConfigError(f"{where} has no key before ':' (write KEY:collection)")
        keys.append(ApiKey(hashlib.sha256(key.encode()).digest(),
                           _scope(names.split("+"), where, echo=False) if scoped else None, where))
    if settings.api_keys_file is not None:
        keys.extend(_read_key_file(Path(settings.api_keys_file)))
    _check(keys, collections)
    return keys


def _scope(names: list[str], where: str, echo: bool = True) -> frozenset[str]:
    """The collection names after a key. ``echo`` False: they may be the end of a key containing ':', so an
    error does not repeat them."""
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise KeyConfigError(f"{where} is limited to no collection: name at least one after the key")
    for name in names:
        if not COLLECTION_NAME.fullmatch(name):
            raise KeyConfigError(
                f"{where} names {repr(name) if echo else 'something'}, which is not a collection name (letters, "
                f"digits, '_' and '-', at most 64){_COLON_HINT if not echo else ''}"
            )
    return frozenset(names)


def _check(keys: list[ApiKey], collections: Collection[str] | None) -> None:
    by_digest: dict[bytes, ApiKey] = {}
    for key in keys:
        # The same key twice with different limits would make what it may do depend on the order read.
        seen = by_digest.setdefault(key.digest, key)
        if seen.collections != key.collections:
            raise KeyConfigError(f"the key of {key.where} is also configured by {seen.where}, with other "
                                 "collections; configure each key once")
        if collections is not None and key.collections is not None:
            unknown = sorted(key.collections - set(collections))
            if unknown:
                from_env = key.where.endswith("ASKDOCS_API_KEYS")
                which = "a collection" if from_env else ", ".join(map(repr, unknown))
                raise KeyConfigError(
                    f"{key.where} is limited to {which} this server does not serve (its collections: "
                    f"{', '.join(collections)}){_COLON_HINT if from_env else ''}"
                )


_COLON_HINT = "; a key that itself contains ':' goes in ASKDOCS_API_KEYS_FILE as its digest instead"


def _read_key_file(path: Path) -> list[ApiKey]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(f"cannot read the API key file {path} ({exc.__class__.__name__})") from None
    keys = []
    for number, line in enumerate(lines, 1):
        fields = re.split(r"[\s,]+", line.split("#", 1)[0].strip())
        if not fields[0]:
            continue
        digest = fields[0].lower()
        if not _SHA256_HEX.fullmatch(digest):
            # The line is not echoed: it may be a key someone pasted by mistake.
            raise KeyConfigError(
                f"line {number} of {path} does not start with a sha256 hex digest; the file holds digests, not keys "
                "(make one with: printf %s 'KEY' | sha256sum)"
            )
        where = f"line {number} of {path}"
        keys.append(ApiKey(bytes.fromhex(digest), _scope(fields[1:], where) if len(fields) > 1 else None, where))
    if not keys:
        raise KeyConfigError(f"the API key file {path} holds no key digests")
    return keys


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
    # Every refusal carries the README's `message`; `detail` stays for the clients that read it.
    data = json.dumps({**body, "message": body.get("message", body.get("detail"))}).encode()
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
        except Exception:
            if status:
                raise  # too late for another response: the server drops the connection
            status = 500
            await _internal_error(send, request_id)
        finally:
            # The path only: query strings carry questions, and no header (so no key) is ever logged.
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status or "-",
                     (time.perf_counter() - started) * 1000)
            REQUEST_ID.reset(token)


async def _internal_error(send: Send, request_id: str) -> None:
    """A 500 answered here, inside the request id's reach: Starlette's own is sent outside every user middleware,
    so it would carry no id to quote in a bug report. The traceback is logged with the id (RequestIdFormatter)."""
    log.exception("unhandled error in request %s", request_id)
    await _send_json(send, 500, {
        "detail": "Internal Server Error", "request_id": request_id,
        "message": f"the server failed on this request (a bug); the log has its traceback under request {request_id}",
    }, [(b"x-request-id", request_id.encode())])


def allowed_collections(scope: Scope) -> frozenset[str] | None:
    """The collections the request's key may use; None when it may use every one (or no keys are configured)."""
    return scope.get(KEY_COLLECTIONS)


class ApiKeyMiddleware:
    """When keys are configured, every request but the public ones needs ``Authorization: Bearer <key>``.

    Which collections the key may use is left in the request's scope (``allowed_collections``): the
    collection a request names is in its body, so the routes and the MCP server check it, not this.
    """

    def __init__(self, app: ASGIApp, keys: list[ApiKey], public: Collection[str] = ()):
        self.app = app
        self.keys = keys
        self.public = frozenset(public)  # more paths anyone may GET (/metrics with --metrics-public)

    @staticmethod
    def is_public(method: str, path: str) -> bool:
        # /health for monitors; the page's files and the API docs, which hold nothing from the index, so a
        # browser can load them and then send the key with the page's own API calls.
        if method not in ("GET", "HEAD"):
            return False
        return (path in ("/health", "/", "/docs", "/redoc", "/openapi.json")
                or path.startswith(("/web/", "/view/", "/docs-assets/")))

    def match(self, header: str | None) -> ApiKey | None:
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        digest = hashlib.sha256(presented.strip().encode()).digest()
        # Every digest is compared, so the time taken says nothing about which key (if any) came close.
        hits = [hmac.compare_digest(digest, key.digest) for key in self.keys]
        return next((key for key, hit in zip(self.keys, hits) if hit), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.keys or self.is_public(scope["method"], scope["path"])
                or (scope["path"] in self.public and scope["method"] in ("GET", "HEAD"))):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        key = self.match(header)
        if key is not None:
            await self.app({**scope, KEY_COLLECTIONS: key.collections}, receive, send)
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


# ---------------------------------------------------------------- DNS rebinding


def allowed_host_names(settings: Settings, hosts: Collection[str] = LOOPBACK_NAMES) -> list[str]:
    """The Host names every route answers to: ``hosts`` (loopback, and serve's --host) and ASKDOCS_ALLOWED_HOSTS;
    ``*`` among them turns the check off."""
    return [*hosts, *(h.strip() for h in settings.allowed_hosts.split(",") if h.strip())]


def host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") > 1:  # a bare IPv6 address, which no port can follow
        return header
    return header.partition(":")[0].rstrip(".")


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostGuardMiddleware:
    """Answers only requests whose Host is an allowed name (any port) or an IP address: the guard against DNS
    rebinding, where a web page whose name the attacker re-points at 127.0.0.1 reads the server as its own origin.

    An IP literal cannot be such a page's name (its origin would be that address itself), so any is let in: that
    keeps ``serve --host 0.0.0.0`` reachable at every address of the machine. A request without Host (HTTP/1.0)
    is let in too: browsers, the only way such a page reaches the server, always send one.
    """

    def __init__(self, app: ASGIApp, hosts: Collection[str]):
        self.app = app
        self.names = frozenset(host_name(h) for h in hosts)
        self.off = "*" in self.names

    def allows(self, header: str | None) -> bool:
        if self.off or header is None:
            return True
        name = host_name(header)
        return name in self.names or _is_ip_literal(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"host")
        if self.allows(header):
            await self.app(scope, receive, send)
            return
        shown = header if len(header) <= 100 else header[:100] + "..."
        name = host_name(shown)
        log.warning("refused Host %r (not an allowed host name)", shown)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_json(send, 421, {
            "detail": f"this server does not answer to the host name {name!r} (a guard against DNS rebinding)",
            "message": f"if {name!r} is a name of this server, its operator can add it to ASKDOCS_ALLOWED_HOSTS "
                       "(comma-separated names; '*' turns the check off)",
        })
