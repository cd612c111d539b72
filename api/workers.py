"""``askdocs serve --workers N``: N processes answering on one listening socket.

One process tops out at what one core gives a Python request (the GIL serialises the HTTP, validation and
serialisation around the model and FAISS calls), so on a machine with more cores than one, throughput comes
from processes. uvicorn's supervisor binds the socket once, spawns the workers (``spawn``, not ``fork``: the
parent never loads a model or starts a thread a child could inherit half-held) and restarts one that dies.

A spawned worker gets nothing from the parent but what is in its environment, so the parent writes what the
command line said into one variable (``SPEC``) and each worker builds its app from it with ``app``, the
factory uvicorn calls. Each worker opens the index itself and polls CURRENT itself, so a new generation is
picked up by every worker within ASKDOCS_RELOAD_INTERVAL (POST /admin/reload reaches only the one worker that
answers it). Index files are opened memory-mapped where the format allows, so workers share those pages.

``--watch``: only one process may run the folder syncs (two would build the same change twice and race to
publish). The first worker to take an exclusive lock on a file the parent created runs them and reports them
in /health and /metrics; the others only serve. If that worker dies, its lock dies with it and the
replacement uvicorn starts takes it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from .http_protocol import HeadTimeoutH11Protocol

# Not an ASKDOCS_ name: those are settings, and an unknown one is warned about.
SPEC = "_ASKDOCS_SERVE_WORKER_SPEC"
WORKER_HEADER = "x-askdocs-worker"

_sync_lock = None  # held for the worker's lifetime: the worker holding it runs the folder syncs


def spec(flags: dict, indexes: dict[str, Path], hosts: list[str], watch: bool, poll: float | None,
         log_format: str, sync_lock: Path) -> str:
    """What the parent tells every worker, as the JSON ``SPEC`` holds."""
    return json.dumps({"flags": flags, "indexes": {name: str(path) for name, path in indexes.items()},
                       "hosts": hosts, "watch": watch, "poll": poll, "log_format": log_format,
                       "sync_lock": str(sync_lock)})


def app() -> ASGIApp:
    """uvicorn's factory in each worker: the same app a single-process serve builds, from ``SPEC``."""
    from .app import create_app
    from askdocs.index.settings import Settings

    from .logs import configure_serve_logging

    told = json.loads(os.environ[SPEC])
    configure_serve_logging(told["log_format"])
    # The parent validated these flags over the same environment already; a worker only rebuilds them.
    settings = Settings.from_environment(os.environ, told["flags"], warn=logging.getLogger("askdocs.settings").warning)
    syncs = (told["watch"] or told["poll"] is not None) and _take_sync_lock(Path(told["sync_lock"]))
    served = create_app(settings, allowed_hosts=told["hosts"], indexes={k: Path(v) for k, v in told["indexes"].items()},
                        watch=told["watch"] if syncs else False, poll=told["poll"] if syncs else None)
    from .tracing import configure_tracing
    from .app import VERSION

    configure_tracing(VERSION)
    HeadTimeoutProtocol.head_timeout = settings.request_head_timeout
    return WorkerHeader(served)


def _take_sync_lock(path: Path) -> bool:
    global _sync_lock
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _sync_lock = handle
    return True


class WorkerHeader:
    """Names the worker (its pid) in every response, so a client or a test can tell which process answered."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.state = getattr(app, "state", None)
        self._value = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (WORKER_HEADER.encode(), self._value)]}
            await send(message)

        await self.app(scope, receive, named)


class HeadTimeoutProtocol(HeadTimeoutH11Protocol):
    """The request-head deadline (``http_protocol``) in a worker: uvicorn is handed the protocol by import path,
    so ``app`` sets the deadline from the worker's settings (it runs before any connection is accepted)."""
