"""uvicorn's HTTP/1.1 protocol with a deadline for the request head.

uvicorn 0.54 closes a connection idle between requests (``timeout_keep_alive``) but has no limit on how long a
client may take to send a request line and headers: a connection that sends half a header is held for ever,
and a few hundred of them hold every slot ``limit_concurrency`` allows. This arms a timer when a head is
awaited and cancels it once h11 has parsed the whole head; a client that does not make it is answered 408 and
cut off. uvicorn would pick httptools if installed; serve passes this h11 class explicitly, so it is always used.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("askdocs.http")

_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 33\r\n"
                     b"connection: close\r\n\r\nrequest head not received in time")


def head_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """The protocol class to pass as uvicorn's ``http=``, closing connections whose head takes over ``seconds``."""
    return type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"head_timeout": seconds})


class HeadTimeoutH11Protocol(H11Protocol):
    head_timeout: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        # IDLE: h11 has not seen a whole request line and headers yet (on a kept-alive connection, between
        # requests: the keep-alive timeout covers silence; the first byte of a next head starts this clock).
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)
        else:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closed a connection whose request head took over %.3g s", self.head_timeout)
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
