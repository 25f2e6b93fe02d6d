"""What a hot route's handler reads of its request, and the stream it answers with.

``FrontRequest`` has the part of ``aiohttp.web.Request`` that the relay's handlers and the
route wrapper (``surfaces.endpoint``) use: ``app``, ``method``, ``path``, ``raw_path``,
``rel_url``, ``query``, ``query_string``, ``headers``, ``remote``, ``read()``, item storage,
``clone(remote=)``, ``transport`` and ``protocol.force_close()``. Nothing is built that a
handler does not ask for: the query and the URL object only when read.

``FrontWhole`` and ``FrontStream`` are the parts of aiohttp's responses that ``respond`` and
the route wrapper use: a whole answer the connection writes once the handler returns, and a
stream written in HTTP/1.1 chunks straight to the connection.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop, Transport
    from collections.abc import Iterable


class Connection(Protocol):
    """What a request and its answer use of the connection they came on
    (``connection.FrontConnection``)."""

    loop: AbstractEventLoop
    transport: Transport | None
    paused: bool  # the client's socket is full: wait for ``drain``
    streamed: bool  # the answer in progress is a stream

    def head(
        self, status: int, reason: str, headers: Iterable[tuple[str, str]], length: int | None
    ) -> bytes: ...

    def send(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def force_close(self) -> None: ...


EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
REASONS = {status.value: status.phrase for status in HTTPStatus}


class FrontRequest:
    """One request of a hot route, its body already read whole."""

    __slots__ = (
        "_state",
        "app",
        "body",
        "headers",
        "keep_alive",
        "path",
        "protocol",
        "query_string",
        "raw_path",
        "refusal",
        "remote",
    )

    method = "POST"  # the front serves no other method (``routes.FRONT_PATHS``)

    def __init__(
        self,
        app: web.Application,
        raw_path: str,
        path: str,
        query_string: str,
        headers: CIMultiDictProxy[str],
        remote: str | None,
        protocol: Connection,
    ) -> None:
        self.app = app
        self.raw_path = raw_path
        self.path = path  # a route's literal path: the same decoded as raw
        self.query_string = query_string
        self.headers = headers
        self.remote = remote
        self.protocol = protocol
        self.body = b""
        self.keep_alive = True  # the client keeps the connection open after the answer
        # What reading the body raises instead (too large, malformed), as aiohttp's would.
        self.refusal: Exception | None = None
        self._state: dict[Any, Any] = {}

    async def read(self) -> bytes:
        if self.refusal is not None:
            raise self.refusal
        return self.body

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.rel_url.query if self.query_string else EMPTY_QUERY

    @property
    def rel_url(self) -> URL:
        return URL(self.raw_path, encoded=True)

    @property
    def transport(self) -> Transport | None:
        return self.protocol.transport

    def clone(self, *, remote: str | None) -> FrontRequest:
        """This request as coming from ``remote`` (a trusted proxy named the client)."""
        twin = FrontRequest(
            self.app,
            self.raw_path,
            self.path,
            self.query_string,
            self.headers,
            remote,
            self.protocol,
        )
        twin.body = self.body
        twin.keep_alive = self.keep_alive
        twin.refusal = self.refusal
        twin._state = dict(self._state)
        return twin

    def __getitem__(self, key: Any) -> Any:
        return self._state[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._state[key] = value

    def __contains__(self, key: Any) -> bool:
        return key in self._state

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)


class FrontWhole:
    """A whole answer (its body in one piece), written by the front after the handler
    returns. The route wrapper reads ``prepared`` and ``status`` and sets a header."""

    __slots__ = ("body", "headers", "status")

    prepared = False

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "")


class FrontStream:
    """A streamed answer in HTTP/1.1 chunks. Its head goes out with its first block when
    that is written within the same turn of the event loop (the relay writes what the
    upstream sent first right after ``prepare``), else alone on the next turn, so that a
    client never waits for the head while the upstream is silent."""

    __slots__ = ("_connection", "_ended", "_head", "headers", "prepared", "status")

    def __init__(self, connection: Connection, headers: dict[str, str]) -> None:
        self.status = 200
        self.headers = headers
        self.prepared = False
        self._connection = connection
        self._head: bytes | None = None
        self._ended = False

    async def prepare(self, request: object) -> None:
        connection = self._connection
        self._head = connection.head(self.status, REASONS[self.status], self.headers.items(), None)
        self.prepared = True
        connection.streamed = True
        connection.loop.call_soon(self._send_head)

    def _send_head(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._connection.send(head)

    async def write(self, data: bytes) -> None:
        if data and self._out(b"%x\r\n%b\r\n" % (len(data), data)):
            await self._connection.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        if self._ended:
            return
        self._ended = True
        last = b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
        if self._out(last):
            await self._connection.drain()

    def _out(self, frame: bytes) -> bool:
        """Send ``frame`` (after the head, if that is still here); whether the client's
        socket is full (the writer then waits for it to drain)."""
        head = self._head
        if head is not None:
            self._head = None
            frame = head + frame
        connection = self._connection
        connection.send(frame)
        return connection.paused
