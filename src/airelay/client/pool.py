"""Keep-alive connections per origin and the one call the relay makes: POST, then read.

Why not aiohttp's client: on the relay's hot path it spent about half of the CPU a
pass-through proxy needs per call, on what this path never uses (cookie jars, redirects,
proxies, payload registries, per-call header merging and timers). This client writes a
request head encoded once per channel (``Target``), lets httptools (llhttp) parse the
answer, and returns connections to a LIFO list per origin. Measured in BENCHMARKS.md.

A request on a reused connection that the upstream had already closed (its keep-alive
ran out while the connection sat idle) is sent once more on a new connection, but only if
not a byte of an answer arrived.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from airelay.client.connection import Connection
from airelay.client.errors import ConnectFailed, Disconnected
from airelay.client.response import Response
from airelay.client.target import Target

DEFAULT_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float  # to open a connection (TCP and TLS)
    read: float | None  # between two pieces of the answer; None waits forever


class Pool:
    def __init__(
        self,
        timeouts: Timeouts,
        *,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.timeouts = timeouts
        self.max_body = max_body  # the largest whole answer read (``TooLarge`` above it)
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._swept = 0.0
        self._closed = False

    async def post(self, target: Target, body: bytes, timeouts: Timeouts | None = None) -> Response:
        """Send ``body`` to ``target``; returns once the status and fields have arrived.

        The caller then reads the body (``read()`` or ``readany()``) and calls
        ``release()``, or ``close()`` to drop the connection. Raises ``TimeoutError`` or an
        ``UpstreamError``."""
        if self._closed:
            raise ConnectFailed("the client is closed")
        limits = timeouts or self.timeouts
        loop = asyncio.get_running_loop()
        head = b"%b%d\r\n\r\n" % (target.head, len(body))
        fresh = False
        while True:
            connection = None if fresh else self._take(target.origin, loop.time())
            reused = connection is not None
            if connection is None:
                connection = await self._connect(target, limits.connect, loop)
            response = Response(connection, self.put, loop, limits.read, self.max_body)
            connection.response = response
            try:
                connection.send(head, body)
                await response.head()
            except Disconnected:
                response.close()
                if reused and not response.received:
                    fresh = True  # the upstream had closed it while idle: once more, anew
                    continue
                raise
            except BaseException:
                response.close()
                raise
            return response

    def put(self, connection: Connection) -> None:
        """A connection whose answer was read in full, ready for another request."""
        if self._closed:
            connection.close()
            return
        now = asyncio.get_running_loop().time()
        connection.idle_since = now
        self._idle.setdefault(connection.origin, []).append(connection)
        if now - self._swept > self._keepalive:
            self._sweep(now)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()

    def idle_count(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    def _take(self, origin: tuple[str, str, int], now: float) -> Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.closed:
                continue
            if now - connection.idle_since > self._keepalive:
                connection.close()
                continue
            return connection
        return None

    def _sweep(self, now: float) -> None:
        self._swept = now
        for origin, idle in list(self._idle.items()):
            keep = []
            for connection in idle:
                if connection.closed:
                    continue
                if now - connection.idle_since > self._keepalive:
                    connection.close()
                else:
                    keep.append(connection)
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    async def _connect(
        self, target: Target, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> Connection:
        context = self._context() if target.tls else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(target.origin),
                    target.host,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context is not None else None,
                )
        except TimeoutError:
            raise TimeoutError(f"no connection to the upstream in {timeout:g} s") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return connection

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl
