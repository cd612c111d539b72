"""``/mcp`` on the app: MCP over streamable HTTP, its SDK imported on the first request that needs it.

The MCP SDK and its types take about half a second to import, a quarter of `askdocs serve`'s start-up
(bench/README.md, "Start-up"), and most servers never see an MCP client; so the route is mounted at once but
the server behind it (``api.mcp``) is built, and its session manager started in the app's lifespan task group,
when the first MCP request arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server


def mount(app: FastAPI, build: Callable[[], Server], hosts: Sequence[str] = ("127.0.0.1", "localhost", "::1"),
          origins: Sequence[str] = ()) -> Callable[[], Any]:
    """Serve the server ``build`` makes at ``/mcp`` on ``app``; the app's lifespan must enter the returned
    context manager.

    Following the SDK's protection against DNS rebinding, /mcp answers only requests whose Host is one of
    ``hosts`` (any port) and whose Origin, if any, is one of those hosts or one of ``origins``.
    """
    transport = _Transport(build, hosts, origins)
    # First in the route list, so a catch-all mount added to the app later cannot shadow /mcp. Before the
    # transport: stateless, it has no stream to offer a GET or session to DELETE, yet would hold a GET open.
    app.router.routes[0:0] = [Route("/mcp", _post_only, methods=["GET", "DELETE"], include_in_schema=False),
                              Route("/mcp", transport, include_in_schema=False)]
    return transport.running


class _Transport:
    """The SDK's streamable HTTP app, made on the first request and run until the app's lifespan ends."""

    def __init__(self, build: Callable[[], Server], hosts: Sequence[str], origins: Sequence[str]):
        self._build = build
        self._hosts, self._origins = list(hosts), list(origins)
        self._app: ASGIApp | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._lock = anyio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            async with self._lock:
                if self._app is None:
                    self._app = await self._start()
        await self._app(scope, receive, send)

    async def _start(self) -> ASGIApp:
        from mcp.server.transport_security import TransportSecuritySettings

        if self._tasks is None:
            raise RuntimeError("/mcp was called outside the app's lifespan")
        names = [f"[{h}]" if ":" in h else h for h in self._hosts]
        security = TransportSecuritySettings(
            # '*' (ASKDOCS_ALLOWED_HOSTS, behind a proxy that rewrites Host) turns the Origin check off with it.
            enable_dns_rebinding_protection="*" not in self._hosts,
            allowed_hosts=[pattern for name in names for pattern in (name, f"{name}:*")],
            allowed_origins=[f"{scheme}://{name}{port}" for name in names for scheme in ("http", "https")
                             for port in ("", ":*")] + self._origins,
        )
        server = self._build()
        # Stateless: every request stands alone, so any worker can answer it and no session state piles up.
        http = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                                          transport_security=security)
        await self._tasks.start(_run_sessions, server.session_manager)
        return http

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()


async def _run_sessions(manager: Any, *, task_status: anyio.abc.TaskStatus) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()


async def _post_only(request: Request) -> JSONResponse:
    message = (f"{request.method} /mcp is not served: this MCP endpoint is stateless, so it has no event stream "
               "to open and no session to end; send JSON-RPC messages with POST")
    return JSONResponse(status_code=405, headers={"allow": "POST"}, content={"detail": message, "message": message})
