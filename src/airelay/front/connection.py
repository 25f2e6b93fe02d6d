"""One client connection of the front.

Each message is parsed with httptools. At the end of its head the front knows whether it
serves it: ``POST`` to one of its routes over HTTP/1.1, without ``Expect``, ``Upgrade``, a
``Content-Encoding`` or a transfer coding other than chunked, within the parser's limits
(``surfaces.protocol``). If not, the connection is handed, with every byte of that message
received so far, to aiohttp's connection protocol, which serves it from then on exactly as it
serves every connection without the front (its refusals of malformed heads included).

That hand-over needs the message's first byte to be the first of a read, which holds for
every client that waits for an answer before it sends the next request. Requests sent
together (pipelining) are answered in turn while the front serves them; at the first it
does not, after a read's first byte, the connection is closed once those before it are
answered, the rest unread: RFC 9112 §9.3.2 has the client retry what got no answer.

One request at a time is answered: bytes that arrive while a handler runs (a client's next
request, sent once the answer was out, while the handler still stores it) are read once it
has returned. Closing the connection cancels that task (a client that goes away
cancels its handler, as ``handler_cancellation`` does under aiohttp). A connection without a
whole request head for ``client_header_timeout`` seconds after it opened or after its last
answer is closed (slowloris).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, cast

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.tcp_helpers import tcp_nodelay
from httptools import HttpParserCallbackError, HttpParserError, HttpRequestParser
from multidict import CIMultiDict, CIMultiDictProxy

from airelay.front.request import FrontRequest, FrontStream
from airelay.surfaces.protocol import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)

# Request headers with which the front does not serve a message (aiohttp does).
_HANDED_HEADERS = ("Expect", "Upgrade", "Content-Encoding")
# The most a message's head may hold before aiohttp is given it (and refuses it).
_HEAD_LIMIT = MAX_URL_BYTES + MAX_HEADERS * (MAX_HEADER_BYTES + 4) + 64
_SERVER = "Server: " + SERVER_SOFTWARE


@dataclass(slots=True, eq=False)
class Serving:
    """What every connection of one front shares."""

    app: web.Application
    routes: dict[bytes, Callable[[Any], Awaitable[web.StreamResponse]]]  # by path as sent
    aiohttp_protocol: Callable[[], asyncio.Protocol]  # for a connection handed over
    max_body: int
    header_timeout: float
    loop: asyncio.AbstractEventLoop
    connections: set[FrontConnection] = field(default_factory=set)


class _HandOver(Exception):
    """Stop parsing: aiohttp serves this connection from this message on."""


class _Stop(Exception):
    """Stop parsing: nothing after this point of the connection is read."""


class FrontConnection(asyncio.Protocol):
    def __init__(self, front: Serving) -> None:
        self.front = front
        self.loop = front.loop
        self.transport: asyncio.Transport | None = None
        self.paused = False  # the client's socket is full: writers wait for ``drain``
        self.streamed = False  # the answer in progress is a stream (its head may be out)
        self._parser = HttpRequestParser(self)
        self._remote: str | None = None
        # The message being read.
        self._idle = True  # between messages: the next byte read starts one
        self._raw: list[bytes] | None = None  # its bytes from its first, until its head ends
        self._raw_size = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._request: FrontRequest | None = None  # once its head is one the front serves
        self._handler: Any = None
        self._body: list[bytes] = []
        self._body_size = 0
        # The answers: the one in progress, those read after it (pipelined).
        self._task: asyncio.Task[None] | None = None
        self._keep_alive = True  # the connection stays open after the answer in progress
        self._queue: deque[tuple[FrontRequest, Any]] = deque()
        self._closing = False  # close once the answer in progress has ended
        self._drained: asyncio.Future[None] | None = None
        self._early: list[bytes] = []  # bytes received while a handler ran
        self._early_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._halt: type[Exception] | None = None  # why a callback stopped the parser

    @property
    def answering(self) -> asyncio.Task[None] | None:
        """The task answering a request, while one is."""
        return self._task

    # asyncio's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are asyncio's in behaviour, not by class.
        self.transport = transport = cast(asyncio.Transport, transport)
        tcp_nodelay(transport, True)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, (list, tuple)):
            self._remote = str(peer[0])
        elif peer is not None:
            self._remote = str(peer)
        self.front.connections.add(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # past a request answered unread: the connection closes after it
        if self._task is not None:
            # The next request, sent once the answer was out while its handler still runs
            # (a stored response being written): read when the handler has returned.
            self._early.append(data)
            self._early_size += len(data)
            if self._early_size > _HEAD_LIMIT and self.transport is not None:
                self.transport.pause_reading()
            return
        if self._idle:
            self._raw = [data]
            self._raw_size = len(data)
        elif self._raw is not None:
            self._raw.append(data)
            self._raw_size += len(data)
            if self._raw_size > _HEAD_LIMIT:
                self._hand_over()
                return
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError:
            # Why a callback stopped the parser, as it said: not the error's ``__context__``,
            # which an exception being handled further up (a compiled coroutine's) replaces.
            halt, self._halt = self._halt, None
            if halt is _HandOver:
                self._hand_over()
            elif halt is not _Stop:
                raise
        except HttpParserError:
            self._malformed()

    def eof_received(self) -> bool:
        return False  # the transport closes: an answer in progress is cancelled

    def connection_lost(self, exc: BaseException | None) -> None:
        self.front.connections.discard(self)
        self._disarm()
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_exception(ConnectionResetError("Connection lost"))
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        # (A message that begins after another in the same read finds ``_raw`` None: that
        # one's head ended it.)
        self._idle = False
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            self._not_served()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._request is not None:
            return  # a chunked body's trailer: not read, as under aiohttp
        headers = self._headers
        headers.append((name, value))
        if len(headers) > MAX_HEADERS or len(name) + len(value) > MAX_HEADER_BYTES:
            self._not_served()

    def on_headers_complete(self) -> None:
        self._disarm()
        parser = self._parser
        path, _, query = self._url.partition(b"?")
        handler = self.front.routes.get(path)
        if (
            handler is None
            or parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
        ):
            self._not_served()
        headers = CIMultiDict(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in self._headers
        )
        coding = headers.get("Transfer-Encoding")
        if (coding is not None and coding.lower() != "chunked") or any(
            name in headers for name in _HANDED_HEADERS
        ):
            self._not_served()
        self._raw = None
        request = FrontRequest(
            self.front.app,
            self._url.decode("utf-8", "surrogateescape"),
            path.decode(),
            query.decode("utf-8", "surrogateescape"),
            CIMultiDictProxy(headers),
            self._remote,
            self,
        )
        request.keep_alive = parser.should_keep_alive()
        self._request = request
        self._handler = handler
        self._body = []
        self._body_size = 0
        length = headers.get("Content-Length")
        if length is not None and int(length) > self.front.max_body:
            self._refuse(web.HTTPRequestEntityTooLarge(self.front.max_body, int(length)))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_size += len(body)
        if self._body_size > self.front.max_body:
            self._refuse(web.HTTPRequestEntityTooLarge(self.front.max_body, self._body_size))

    def on_message_complete(self) -> None:
        self._idle = True
        request = self._request
        assert request is not None  # a head the front does not serve ended the parsing
        body = self._body
        request.body = body[0] if len(body) == 1 else b"".join(body)
        self._body = []
        self._answer(request)

    # serving

    def _answer(self, request: FrontRequest) -> None:
        """Answer ``request`` now, or after those before it."""
        self._request = None
        if self._task is not None:
            self._queue.append((request, self._handler))
        else:
            self._start(request, self._handler)

    def _start(self, request: FrontRequest, handler: Any) -> None:
        self._keep_alive = request.keep_alive
        self._task = self.loop.create_task(self._serve(request, handler))

    async def _serve(self, request: FrontRequest, handler: Any) -> None:
        transport = self.transport
        assert transport is not None
        self.streamed = False
        try:
            try:
                response = await handler(request)
            except web.HTTPException as http:  # a status under 400 the route wrapper passes on
                response = http
            if self.streamed:
                if not isinstance(response, FrontStream):
                    # An error after a stream's head: no second answer fits.
                    transport.close()
            else:
                self._send_whole(response)
                if self.paused:
                    await self.drain()
        except asyncio.CancelledError:
            transport.close()
            raise
        except ConnectionError:
            transport.close()
            return
        except Exception:
            log.exception("error answering %s", request.path)
            transport.close()
            return
        finally:
            self._task = None
        if transport.is_closing():
            return
        if self._keep_alive and self._queue:
            self._start(*self._queue.popleft())
            return
        if self._closing or not self._keep_alive:
            transport.close()
            return
        self._arm()
        if self._early:
            early = b"".join(self._early)
            self._early = []
            if self._early_size > _HEAD_LIMIT:
                transport.resume_reading()
            self._early_size = 0
            self.data_received(early)

    def _send_whole(self, response: web.StreamResponse) -> None:
        body = getattr(response, "body", None) or b""
        if not isinstance(body, bytes):
            raise TypeError(f"the front writes bytes bodies, not {type(body).__name__}")
        head = self.head(response.status, response.reason, response.headers.items(), len(body))
        self.send(head + body)

    def head(
        self, status: int, reason: str, headers: Iterable[tuple[str, str]], length: int | None
    ) -> bytes:
        """An answer's status line and headers: the handler's, then the framing, ``Date``,
        ``Server`` and, when the connection ends after it, ``Connection: close``."""
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(
            "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        )
        lines.append("Date: " + rfc822_formatted_time())
        lines.append(_SERVER)
        if not self._keep_alive or (self._closing and not self._queue):
            lines.append("Connection: close")
        text = "\r\n".join(lines)
        breaks = len(lines) - 1
        if text.count("\n") != breaks or text.count("\r") != breaks:
            raise ValueError("a line break in an answer's header")
        return (text + "\r\n\r\n").encode("utf-8")

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)

    async def drain(self) -> None:
        """Wait until the client's socket takes more."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        if self.paused:
            self._drained = self.loop.create_future()
            await self._drained

    def force_close(self) -> None:
        """Close the connection once the answer in progress has ended."""
        self._closing = True

    def shut(self) -> None:
        """The server stops: close now if no answer is in progress, else after it."""
        self._closing = True
        if self._task is None and self.transport is not None:
            self.transport.close()

    # the other ways a message goes

    def _not_served(self) -> NoReturn:
        """A message the front does not serve: aiohttp's from its first byte on, or the
        connection's last when that byte was not a read's first (pipelined)."""
        if self._raw is not None:
            self._halt = _HandOver
            raise _HandOver
        self._stop_reading()
        self._halt = _Stop
        raise _Stop

    def _hand_over(self) -> None:
        """aiohttp's protocol serves this connection from the message being read."""
        transport = self.transport
        assert transport is not None and self._raw is not None
        raw = b"".join(self._raw)
        self._raw = None
        self._disarm()
        self.front.connections.discard(self)
        protocol = self.front.aiohttp_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(raw)

    def _refuse(self, refusal: Exception) -> None:
        """Answer the request being read without reading the rest of it: its handler's
        ``read()`` raises ``refusal``; the connection closes after the answer."""
        request = self._request
        assert request is not None
        request.refusal = refusal
        self._stop_reading()
        self._answer(request)
        self._halt = _Stop
        raise _Stop

    def _malformed(self) -> None:
        """The parser refused what it was given."""
        if self._raw is not None:  # a head: aiohttp refuses it, in its own words
            self._hand_over()
        elif self._request is not None:  # the body of a request the front serves
            request = self._request
            request.refusal = BadHttpMessage("Malformed request body")
            self._stop_reading()
            self._answer(request)
        elif self._task is not None:  # bytes after a request being answered
            self._stop_reading()
        elif self.transport is not None:
            self.transport.close()

    def _stop_reading(self) -> None:
        self._closing = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _arm(self) -> None:
        self._timer = self.loop.call_later(self.front.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._task is None and self.transport is not None:
            self.transport.close()
