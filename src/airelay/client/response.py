"""One upstream answer as it arrives: status and fields, then the body, whole or in pieces.

httptools (llhttp) parses the bytes and calls this object back; the body collects in a
list until the caller takes it. Reading pauses when more than ``HIGH_WATER`` bytes wait
unread (a slow client slows the upstream, not the gateway's memory), and a whole body
(``read()``) larger than ``max_body`` fails with ``TooLarge`` as soon as it is known, so
that a huge answer costs at most the cap in memory. Every wait is bounded by the read
timeout and by the call's deadline, whichever comes first.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable

import httptools

from airelay import ticks
from airelay.client.connection import Connection
from airelay.client.errors import Disconnected, ProtocolFailure, TooLarge, UpstreamError

HIGH_WATER = 256 * 1024


class Response:
    """``status`` and ``headers`` (lower-case names) are set once ``head()`` returns."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_connection",
        "_deadline",
        "_decoder",
        "_error",
        "_finished",
        "_head_done",
        "_keep_alive",
        "_loop",
        "_max_body",
        "_parser",
        "_paused",
        "_raw",
        "_read_timeout",
        "_reuse",
        "_until_eof",
        "_waiter",
        "_watch",
        "_whole",
        "headers",
        "received",
        "status",
    )

    def __init__(
        self,
        connection: Connection,
        reuse: Callable[[Connection, float], None],
        loop: asyncio.AbstractEventLoop,
        read_timeout: float | None,
        max_body: int,
        deadline: float | None = None,
    ) -> None:
        self._connection = connection
        self._deadline = deadline  # loop time by which the whole answer must have arrived
        self._max_body = max_body
        self._watch = min(max_body, HIGH_WATER)  # below it, a piece of body needs no check
        # Takes back a connection that can serve another request, with the loop's time.
        self._reuse = reuse
        self._loop = loop
        self._read_timeout = read_timeout
        # The parser holds this object's callbacks, a reference cycle: ``_detach`` breaks it
        # as soon as the answer is complete or failed, so that no answer waits for the
        # garbage collector (which otherwise runs every few dozen calls).
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._raw: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._whole = False
        self._head_done = False
        self._complete = False
        self._keep_alive = False
        self._until_eof = False
        self._finished = False
        self._decoder: zlib._Decompress | None = None
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.received = False  # any byte of the answer
        self.status = 0
        self.headers: dict[str, str] = {}

    # -- what the caller uses ------------------------------------------------------------

    async def head(self) -> None:
        """Wait for the status line and the fields."""
        while not self._head_done:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def read(self) -> bytes:
        """The whole body (then ``release()``)."""
        self._whole = True
        if self._paused:
            self._paused = False
            self._connection.resume_reading()
        while not self._complete:
            if self._error is not None:
                raise self._error
            await self._wait()
        return self._take()

    async def readany(self) -> bytes:
        """Whatever body bytes have arrived (waiting for some), ``b""`` at the end."""
        while True:
            if self._chunks:
                return self._take()
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            await self._wait()

    @property
    def ready(self) -> bool:
        """Whether ``readany`` would answer at once: bytes, the end or a failure are here."""
        return bool(self._chunks) or self._complete or self._error is not None

    def release(self) -> None:
        """Done with the answer: the connection goes back to the pool if it can serve
        another request, else it closes."""
        if self._finished:
            return
        self._finished = True
        self._parser = None
        connection = self._connection
        connection.response = None
        if self._complete and self._keep_alive and self._error is None and not connection.closed:
            self._reuse(connection, self._loop.time())
        else:
            connection.close()

    def close(self) -> None:
        """Done with the answer, whatever is left unread: the connection closes."""
        if self._finished:
            return
        self._finished = True
        self._parser = None
        self._connection.response = None
        self._connection.close()

    # -- what the connection calls -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.received = True
        parser = self._parser
        if parser is None:  # complete or failed: nothing more belongs to this answer
            self._keep_alive = False
            self._connection.close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolFailure("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            if self._complete:
                self._keep_alive = False
            elif isinstance(exc.__context__, UpstreamError):
                self._fail(exc.__context__)
            else:
                self._fail(ProtocolFailure(f"invalid HTTP answer from the upstream: {exc}"))
        if self._error is not None or (self._complete and not self._keep_alive):
            self._connection.close()

    def lost(self, exc: Exception | None) -> None:
        if self._complete:
            return
        if self._head_done and self._until_eof and exc is None:
            self._end()  # a body delimited by the end of the connection
            self._keep_alive = False
            return
        detail = f": {exc}" if exc is not None else ""
        self._fail(Disconnected(f"the upstream closed the connection{detail}"))

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise ProtocolFailure("a second answer on the connection")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:  # 1xx: informational, the answer follows
            self._raw.clear()
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._raw:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self._raw.clear()
        self.status = status
        self.headers = headers
        if "keep-alive" in headers:
            limit = keep_alive_limit(headers["keep-alive"])
            if limit is not None and limit < self._connection.idle_limit:
                self._connection.idle_limit = limit
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif encoding != "identity":
            raise ProtocolFailure(f"unsupported content-encoding {encoding!r}")
        self._until_eof = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        # Called for every piece of a chunked body (an SSE event, usually): kept short,
        # with the wake-up written out rather than called.
        if self._decoder is not None:
            body = self._inflate(body)
            if not body:
                return
        self._chunks.append(body)
        buffered = self._buffered = self._buffered + len(body)
        if buffered > self._watch:
            self._hold_back(buffered)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _inflate(self, body: bytes) -> bytes:
        assert self._decoder is not None
        # Bounded: a small compressed piece must not inflate past the cap in memory
        # (a whole body: in all; a body read in pieces: per piece).
        room = self._max_body + 1 - (self._buffered if self._whole else 0)
        try:
            body = self._decoder.decompress(body, max(room, 1))
        except zlib.error as exc:
            raise ProtocolFailure(f"invalid compressed body: {exc}") from None
        if self._decoder.unconsumed_tail:
            raise self._too_large()
        return body

    def _hold_back(self, buffered: int) -> None:
        """More than ``_watch`` bytes wait: a whole body is held to the cap; a body read in
        pieces pauses the upstream instead, so that what it buffers stays near HIGH_WATER."""
        if self._whole:
            if buffered > self._max_body:
                raise self._too_large()
        elif not self._paused and buffered > HIGH_WATER:
            self._paused = True
            self._connection.pause_reading()

    def on_message_complete(self) -> None:
        if not self._head_done:
            return  # the end of a 1xx answer
        assert self._parser is not None
        self._keep_alive = self._parser.should_keep_alive()
        self._end()

    # -- internals -----------------------------------------------------------------------

    def _take(self) -> bytes:
        chunks = self._chunks
        self._chunks = []
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._connection.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _end(self) -> None:
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._chunks.append(rest)
        self._complete = True
        self._parser = None
        self._wake()

    def _too_large(self) -> TooLarge:
        self._chunks = []  # what was read so far is of no use: free it now
        self._buffered = 0
        return TooLarge(f"the upstream's answer is larger than {self._max_body} bytes")

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._parser = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        # One timer, for whichever comes first: the read timeout or the call's deadline
        # (a coarse one: ``ticks``).
        timeout = self._read_timeout
        expire = self._expire
        now = loop.time()
        if self._deadline is not None:
            left = self._deadline - now
            if timeout is None or left < timeout:
                timeout, expire = max(left, 0.0), self._expire_total
        filed = None if timeout is None else ticks.of(loop).at(now + timeout, expire)
        try:
            await waiter
        finally:
            self._waiter = None
            if filed is not None:
                filed.discard(expire)

    def _expire(self) -> None:
        self._fail(TimeoutError("the upstream sent nothing in time"))
        self._connection.close()

    def _expire_total(self) -> None:
        self._fail(TimeoutError("the upstream's answer did not end in time"))
        self._connection.close()


def keep_alive_limit(value: str) -> float | None:
    """How long a connection may sit idle and still be reused, from the upstream's
    ``Keep-Alive: timeout=N`` (RFC 2068 19.7.1.1), with a margin for the time the answer
    took to arrive and the next request will take: the upstream counts from its last write.
    None when the field says no timeout."""
    for part in value.split(","):
        name, _, number = part.partition("=")
        if name.strip().lower() == "timeout":
            try:
                seconds = float(number.strip().strip('"'))
            except ValueError:
                return None
            if seconds != seconds or seconds < 0:  # NaN, negative
                return None
            return max(seconds - 1.0, seconds / 2)
    return None
