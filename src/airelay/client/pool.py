"""Keep-alive connections per origin and the one call the relay makes: send, then read.

Why not aiohttp's client: on the relay's hot path it spent about half of the CPU a
pass-through proxy needs per call, on what this path never uses (cookie jars, redirects,
proxies, payload registries, per-call header merging and timers). This client writes a
request head encoded once per channel (``Target``), lets httptools (llhttp) parse the
answer, and returns connections to a LIFO list per origin. Measured in BENCHMARKS.md.

Per origin, at most ``max_per_origin`` connections are open (or opening) at once; a call
above it waits, within its connect timeout, for a connection another call hands back or for
a slot one frees by closing. A connection idle longer than the pool's ``keepalive``, or than
the upstream's own ``Keep-Alive: timeout=N`` announces, is not reused.

A request on a reused connection that the upstream had already closed (its keep-alive
ran out while the connection sat idle) is sent once more on a new connection, but only if
not a byte of an answer arrived.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass

from airelay.client.connection import Connection
from airelay.client.dial import AddressCheck, Resolver, open_socket
from airelay.client.errors import ConnectFailed, Disconnected
from airelay.client.response import Response
from airelay.client.target import Target

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_PER_ORIGIN = 4096

Origin = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float  # to open a connection (TCP and TLS), or wait for one under the cap
    read: float | None  # between two pieces of the answer; None waits forever
    # From sending to the last byte of the answer, streams included; None: the pool's.
    total: float | None = None


class _Origin:
    """One origin's connections: the idle ones, how many are open, who waits for one."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[Connection] = []
        self.open = 0  # open or opening, idle or busy
        # Each gets a connection handed back, or None: a freed slot to open one in.
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()


class Pool:
    def __init__(
        self,
        timeouts: Timeouts,
        *,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        max_per_origin: int = DEFAULT_MAX_PER_ORIGIN,
        resolver: Resolver | None = None,
        allowed: AddressCheck | None = None,
    ) -> None:
        if max_per_origin < 1:
            raise ValueError("max_per_origin must be 1 or more")
        self.timeouts = timeouts
        self.max_body = max_body  # the largest whole answer read (``TooLarge`` above it)
        self.max_per_origin = max_per_origin
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._resolver = resolver or Resolver()
        self._allowed = allowed  # None: any address
        self._origins: dict[Origin, _Origin] = {}
        self._swept = 0.0
        self._closed = False

    async def send(self, target: Target, body: bytes, timeouts: Timeouts | None = None) -> Response:
        """Send ``target``'s request with ``body``; returns once the status and fields have
        arrived.

        The caller then reads the body (``read()`` or ``readany()``) and calls
        ``release()``, or ``close()`` to drop the connection. Raises ``TimeoutError`` or an
        ``UpstreamError``."""
        if self._closed:
            raise ConnectFailed("the client is closed")
        limits = timeouts or self.timeouts
        loop = asyncio.get_running_loop()
        now = loop.time()
        total = self.timeouts.total if limits.total is None else limits.total
        deadline = None if total is None else now + total
        head = b"%b%d\r\n\r\n" % (target.head, len(body)) if target.sized else target.head
        origin = self._origins.get(target.origin)
        # The common case first: an idle connection, taken without a coroutine more.
        connection = None if origin is None else self._take(origin, now)
        reused = connection is not None
        while True:
            if connection is None:
                connection, reused = await self._acquire(target, limits.connect, deadline)
            response = Response(connection, self.put, loop, limits.read, self.max_body, deadline)
            connection.response = response
            try:
                connection.send(head, body)
                await response.head()
            except Disconnected:
                response.close()
                if reused and not response.received:
                    # The upstream had closed it while idle: once more, on a new one.
                    connection = None
                    continue
                raise
            except BaseException:
                response.close()
                raise
            return response

    def put(self, connection: Connection, now: float | None = None) -> None:
        """A connection whose answer was read in full, ready for another request: to the
        first call waiting for one, else to the idle list. ``now``: the loop's time, when
        the caller has its loop (looking the loop up costs a system call on Python 3.11)."""
        if self._closed or connection.closed:
            connection.close()
            return
        origin = self._origins[connection.origin]
        waiters = origin.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if now is None:
            now = asyncio.get_running_loop().time()
        connection.idle_since = now
        origin.idle.append(connection)
        if now - self._swept > self._keepalive:
            self._sweep(now)

    async def close(self) -> None:
        self._closed = True
        for origin in self._origins.values():
            for connection in origin.idle:
                connection.close()
            origin.idle.clear()
            while origin.waiters:
                waiter = origin.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(ConnectFailed("the client is closed"))

    def idle_count(self) -> int:
        return sum(len(origin.idle) for origin in self._origins.values())

    def open_count(self, origin: Origin) -> int:
        """Connections open (or opening) to ``origin``, idle or busy."""
        state = self._origins.get(origin)
        return 0 if state is None else state.open

    # -- connections and slots -----------------------------------------------------------

    async def _acquire(
        self, target: Target, timeout: float, deadline: float | None
    ) -> tuple[Connection, bool]:
        """A new connection to ``target``'s origin, or one handed back by another call
        while this one waited under the cap (then True: it served a request before)."""
        origin = self._origins.get(target.origin)
        if origin is None:
            origin = self._origins[target.origin] = _Origin()
        loop = asyncio.get_running_loop()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))
        if origin.open >= self.max_per_origin:
            handed = await self._wait(origin, timeout, loop)
            if handed is not None:
                return handed, True
        else:
            origin.open += 1
        try:
            connection = await self._connect(target, timeout, loop)
        except BaseException:
            self._free(origin)
            raise
        return connection, False

    async def _wait(
        self, origin: _Origin, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> Connection | None:
        """Wait for a connection handed back (returned) or a slot freed (None: the slot is
        the caller's now)."""
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        origin.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # given just as the wait ended: pass it on
                if handed is None:
                    self._free(origin)
                else:
                    self.put(handed)
            waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise TimeoutError(
                    f"no connection to the upstream in {timeout:g} s "
                    f"({self.max_per_origin} open, the most per origin)"
                ) from None
            raise

    def _free(self, origin: _Origin) -> None:
        """A slot is free: it passes to the first call waiting, else the count drops."""
        waiters = origin.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        origin.open -= 1

    def _closed_connection(self, connection: Connection) -> None:
        self._free(self._origins[connection.origin])

    def _take(self, origin: _Origin, now: float) -> Connection | None:
        idle = origin.idle
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.closed:
                continue
            if now - connection.idle_since > connection.idle_limit:
                connection.close()
                continue
            return connection
        return None

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key, origin in list(self._origins.items()):
            keep = []
            for connection in origin.idle:
                if connection.closed:
                    continue
                if now - connection.idle_since > connection.idle_limit:
                    connection.close()
                else:
                    keep.append(connection)
            origin.idle = keep
            if not keep and not origin.open and not origin.waiters:
                del self._origins[key]

    async def _connect(
        self, target: Target, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> Connection:
        context = self._context() if target.tls else None
        connection = Connection(target.origin, self._keepalive)
        try:
            async with asyncio.timeout(timeout):
                infos = await self._resolver.resolve(target.host, target.port)
                try:
                    sock = await open_socket(infos, self._allowed)
                except ConnectFailed:
                    self._resolver.forget(target.host, target.port)
                    raise
                try:
                    await loop.create_connection(
                        lambda: connection,
                        sock=sock,
                        ssl=context,
                        server_hostname=target.host if context is not None else None,
                    )
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError:
            raise TimeoutError(f"no connection to the upstream in {timeout:g} s") from None
        except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        if connection.closed:
            raise ConnectFailed("the upstream closed the connection at once")
        connection.on_closed = self._closed_connection
        return connection

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl
