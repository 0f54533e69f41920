"""uvicorn's HTTP protocol with deadlines for the headers and the body (slow clients).

uvicorn closes idle keep-alive connections, but a client that sends a byte every few seconds is
never idle: it holds its connection (and a slot of the worker's) for as long as it likes. Here
every request has two deadlines, each a timer on the event loop (no per-byte cost):

- headers: ECOM_API_HEADER_TIMEOUT_S seconds from the connection (or from the first byte of the
  next request on a kept-alive one) until the headers are complete;
- body: ECOM_API_BODY_TIMEOUT_S seconds from the headers until the body is complete.

A client that misses one gets 408 (JSON, like every error) and its connection is closed; the
handler reading the body sees a disconnect. The mixin wraps whichever protocol uvicorn would
pick (httptools when installed, else h11): both keep the request in `self.cycle`, whose
`more_body` turns False when the body is in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

log = logging.getLogger("api.protocol")
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0


def _timeout_response(what: str, seconds: float) -> bytes:
    body = orjson.dumps(
        {
            "detail": f"The request's {what} did not arrive within {seconds:g} s: the connection "
            "is closed. Send the whole request at once.",
            "errors": [],
        }
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class Deadlines:
    """The header and body deadlines, mixed into a uvicorn HTTP protocol class."""

    header_timeout: float = HEADER_TIMEOUT_S
    body_timeout: float = BODY_TIMEOUT_S
    cycle: Any
    transport: Any
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._deadline: asyncio.TimerHandle | None = None
        self._arm(self.header_timeout, "headers")

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        idle = cycle is None or cycle.response_complete
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle:  # the headers of a new request are complete
            self._disarm()
            if self.cycle.more_body:
                self._arm(self.body_timeout, "body")
        elif self.cycle is not None and not self.cycle.more_body and self._what == "body":
            self._disarm()  # the body is complete
        elif idle and self._deadline is None:  # the first bytes of the next request
            self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._what = what
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
        self._deadline = None
        self._what = ""

    def _expired(self, seconds: float, what: str) -> None:
        self._deadline = None
        cycle = self.cycle
        if what == "body" and (cycle is None or not cycle.more_body):
            return
        if self.transport.is_closing():
            return
        client = getattr(self, "client", None)
        log.warning(
            "request %s not received in %g s: closing the connection",
            what,
            seconds,
            extra={"client": client[0] if client else None},
        )
        if cycle is None or not cycle.response_started:
            self.transport.write(_timeout_response(what, seconds))
        if cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def _base() -> type:
    """The protocol uvicorn would pick ("auto")."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # httptools is optional; the service's image has h11 only
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


class GuardedProtocol(Deadlines, _base()):  # type: ignore[misc]
    """What the supervisor gives uvicorn (`http="api.protocol:GuardedProtocol"`)."""


def configure(header_timeout: float, body_timeout: float) -> None:
    """Set the deadlines (each worker, from its settings, before it serves)."""
    Deadlines.header_timeout = header_timeout
    Deadlines.body_timeout = body_timeout


PROTOCOL = f"{__name__}:GuardedProtocol"
