"""One keep-alive TCP (or TLS) connection to an upstream, carrying one request at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast


class Receiver(Protocol):
    """What reads the answer in progress (``response.Response``)."""

    def feed(self, data: bytes) -> None: ...

    def lost(self, exc: Exception | None) -> None: ...


class Connection(asyncio.Protocol):
    """The transport's protocol: hands received bytes to the response in progress.

    ``on_closed`` is called once, when the connection closes for whatever reason (either
    side, idle or busy): the pool counts open connections per origin with it."""

    __slots__ = (
        "closed",
        "idle_limit",
        "idle_since",
        "on_closed",
        "origin",
        "response",
        "transport",
    )

    def __init__(self, origin: tuple[str, str, int], idle_limit: float) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.response: Receiver | None = None
        self.closed = False
        self.idle_since = 0.0
        # Seconds it may sit idle and still be reused (lowered by the upstream's Keep-Alive).
        self.idle_limit = idle_limit
        self.on_closed: Callable[[Connection], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            # Bytes nobody asked for: this connection can no longer be trusted.
            self.close()
            return
        response.feed(data)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()
        response = self.response
        if response is not None:
            response.lost(exc)

    def send(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        if len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self._closed()
        if self.transport is not None:
            self.transport.close()

    def _closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.on_closed is not None:
            self.on_closed(self)
