"""The upstream client against scripted raw servers on loopback: framing (length, chunked,
end of connection), keep-alive reuse, stale connections, timeouts, errors, back-pressure,
compression, cancellation. Every scenario runs on the stdlib loop and on uvloop."""

from __future__ import annotations

import asyncio
import gc
import gzip
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop
from support.tcp_server import LoopbackServer

from airelay.client import (
    ConnectFailed,
    Disconnected,
    Pool,
    ProtocolFailure,
    Response,
    Timeouts,
    post_target,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]
TIMEOUTS = Timeouts(connect=5, read=5)


class Server(LoopbackServer):
    """A TCP server running ``handler`` per connection; counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def run(scenario: Callable[[], Coroutine[Any, Any, None]], loop_kind: str) -> None:
    if loop_kind == "uvloop":
        uvloop.run(scenario())
    else:
        asyncio.run(scenario())


LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


def run_against(
    handler: Handler,
    check: Callable[[Server, Pool], Awaitable[None]],
    loop_kind: str,
    timeouts: Timeouts = TIMEOUTS,
) -> None:
    """``check`` with a pool, against a server running ``handler``."""

    async def scenario() -> None:
        async with Server(handler) as srv:
            pool = Pool(timeouts)
            try:
                await check(srv, pool)
            finally:
                await pool.close()

    run(scenario, loop_kind)


def answer(body: bytes, *fields: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *fields]) + "\r\n\r\n").encode() + body


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
    while True:
        body = await srv.read_request(reader)
        writer.write(answer(b'{"echo":' + body + b"}"))
        await writer.drain()


@LOOPS
def test_whole_answers_reuse_one_connection(loop_kind: str) -> None:
    async def check(srv: Server, pool: Pool) -> None:
        target = post_target(srv.url, {"Authorization": "Bearer k"})
        for n in range(3):
            response = await pool.send(target, b'{"n":%d}' % n)
            assert response.status == 200
            assert response.headers["content-type"] == "application/json"
            assert await response.read() == b'{"echo":{"n":%d}}' % n
            response.release()
        assert srv.connections == 1
        assert pool.idle_count() == 1
        first = srv.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nAuthorization: Bearer k\r\n" in first
        assert first.endswith(b'\r\nContent-Length: 7\r\n\r\n{"n":0}')

    run_against(keep_answering, check, loop_kind)


@LOOPS
def test_chunked_stream_arrives_in_pieces_then_ends(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for piece in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await keep_answering(reader, writer, srv)

    async def check(srv: Server, pool: Pool) -> None:
        target = post_target(srv.url, {})
        response = await pool.send(target, b"{}")
        assert response.headers["content-type"] == "text/event-stream"
        received = []
        while piece := await response.readany():
            received.append(piece)
        assert b"".join(received) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
        assert len(received) >= 2  # given as they came, not gathered
        response.release()
        again = await pool.send(target, b"{}")  # the same connection serves again
        assert await again.read() == b'{"echo":{}}'
        again.release()
        assert srv.connections == 1

    run_against(handler, check, loop_kind)


@LOOPS
def test_body_delimited_by_the_end_of_the_connection(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        assert await response.read() == b"all of it"
        response.release()
        assert pool.idle_count() == 0  # never reused

    run_against(handler, check, loop_kind)


@LOOPS
def test_a_connection_the_upstream_closed_while_idle_is_replaced(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(answer(b"{}"))  # says keep-alive, then hangs up anyway
        await writer.drain()

    async def check(srv: Server, pool: Pool) -> None:
        target = post_target(srv.url, {})
        for _ in range(3):
            response = await pool.send(target, b"{}")
            assert await response.read() == b"{}"
            response.release()
            await srv.closed.wait()
            srv.closed.clear()
            await asyncio.sleep(0)
        assert srv.connections == 3
        assert len(srv.requests) == 3  # each request reached the upstream once

    run_against(handler, check, loop_kind)


@LOOPS
def test_stale_connection_detected_only_on_send_is_retried_once(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        if srv.connections == 1:
            await reader.readuntil(b"\r\n\r\n")  # the next request: hang up without a word
            return
        await keep_answering(reader, writer, srv)

    async def check(srv: Server, pool: Pool) -> None:
        target = post_target(srv.url, {})
        first = await pool.send(target, b"{}")
        await first.read()
        first.release()
        second = await pool.send(target, b"{}")
        assert await second.read() == b"{}"
        second.release()
        assert srv.connections == 2

    run_against(handler, check, loop_kind)


@LOOPS
def test_closed_midway_is_disconnected(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        with pytest.raises(Disconnected):
            await response.read()
        response.release()
        assert pool.idle_count() == 0

    run_against(handler, check, loop_kind)


@LOOPS
def test_no_answer_in_time_is_a_timeout(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        assert await response.readany() == b"hello"
        with pytest.raises(TimeoutError):
            await response.readany()
        response.release()
        assert pool.idle_count() == 0
        # A per-call limit overrides the pool's.
        started = asyncio.get_running_loop().time()
        response = await pool.send(post_target(srv.url, {}), b"{}", Timeouts(5, 0.05))
        await response.readany()
        with pytest.raises(TimeoutError):
            await response.readany()
        assert asyncio.get_running_loop().time() - started < 0.2
        response.close()

    run_against(handler, check, loop_kind, Timeouts(connect=5, read=0.2))


@LOOPS
def test_refused_connection_is_connect_failed(loop_kind: str) -> None:
    async def scenario() -> None:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        pool = Pool(TIMEOUTS)
        with pytest.raises(ConnectFailed):
            await pool.send(post_target(f"http://127.0.0.1:{port}/x", {}), b"{}")
        await pool.close()

    run(scenario, loop_kind)


@LOOPS
@pytest.mark.parametrize(
    "reply",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"],
)
def test_garbage_is_a_protocol_failure(loop_kind: str, reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(1)

    async def check(srv: Server, pool: Pool) -> None:
        with pytest.raises(ProtocolFailure):
            await pool.send(post_target(srv.url, {}), b"{}")
        assert pool.idle_count() == 0

    run_against(handler, check, loop_kind)


@LOOPS
def test_gzip_answer_is_decoded_and_informational_answers_skipped(loop_kind: str) -> None:
    body = b'{"text":"' + b"compressible " * 500 + b'"}'
    packed = gzip.compress(body)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(answer(packed, "Content-Encoding: gzip"))
        await writer.drain()
        await keep_answering(reader, writer, srv)

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        assert response.status == 200
        assert await response.read() == body
        response.release()
        assert pool.idle_count() == 1

    run_against(handler, check, loop_kind)


@LOOPS
def test_an_unread_stream_holds_the_upstream_back(loop_kind: str) -> None:
    piece = bytes(range(256)) * 256  # 64 KiB
    pieces = 512  # 32 MiB in all: more than the kernel buffers between the two ends
    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(pieces):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        done.set()

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        await asyncio.sleep(0.5)  # a slow client: nothing read meanwhile
        assert not done.is_set()  # the upstream waits instead of filling our memory
        total = bytearray()
        while chunk := await response.readany():
            total += chunk
        assert total == piece * pieces
        assert done.is_set()
        response.release()

    run_against(handler, check, loop_kind)


@LOOPS
def test_a_cancelled_call_drops_its_connection(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        await reader.read()  # the client's end of the connection

    async def check(srv: Server, pool: Pool) -> None:
        call = asyncio.create_task(pool.send(post_target(srv.url, {}), b"{}"))
        while not srv.requests:
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.wait_for(srv.closed.wait(), 2)  # the upstream saw the connection end
        assert pool.idle_count() == 0

    run_against(handler, check, loop_kind)


@LOOPS
def test_a_half_read_answer_never_returns_to_the_pool(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await reader.read()

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        assert await response.readany() == b"abc"
        response.release()
        assert pool.idle_count() == 0
        await asyncio.wait_for(srv.closed.wait(), 2)

    run_against(handler, check, loop_kind)


@LOOPS
def test_bytes_after_the_answer_retire_the_connection(loop_kind: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server):
        await srv.read_request(reader)
        writer.write(answer(b"{}") + b"HTTP/1.1 200 OK\r\n")
        await writer.drain()
        await reader.read()

    async def check(srv: Server, pool: Pool) -> None:
        response = await pool.send(post_target(srv.url, {}), b"{}")
        assert await response.read() == b"{}"
        response.release()
        assert pool.idle_count() == 0

    run_against(handler, check, loop_kind)


@LOOPS
def test_answers_leave_no_garbage_for_the_collector(loop_kind: str) -> None:
    """An answer read and released is freed by reference counting alone: no cycle waits
    for the collector (which, with one cycle per call, ran every few dozen calls)."""

    async def check(srv: Server, pool: Pool) -> None:
        target = post_target(srv.url, {})
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                response = await pool.send(target, b"{}")
                await response.read()
                response.release()
            del response
            left = sum(isinstance(o, Response) for o in gc.get_objects())
        finally:
            gc.enable()
        assert left == 0

    run_against(keep_answering, check, loop_kind)
