"""The own client's bounds, against raw servers on loopback that count what they see: at
most ``max_per_origin`` connections to one origin however many calls (the rest wait, within
the connect timeout), a total deadline per call, and the upstream's ``Keep-Alive: timeout``
honoured. Every scenario runs on the stdlib loop and on uvloop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from support.tcp_server import LoopbackServer

from airelay.client import Pool, Timeouts, post_target
from airelay.client.response import keep_alive_limit

LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


def run(scenario: Callable[[], Coroutine[Any, Any, None]], loop_kind: str) -> None:
    (uvloop.run if loop_kind == "uvloop" else asyncio.run)(scenario())


class Counting(LoopbackServer):
    """A keep-alive server answering each request after ``delay`` with ``fields``; counts
    connections, the most open at once, and requests."""

    def __init__(self, delay: float = 0.0, fields: bytes = b"", close_after: bool = False):
        self.delay = delay
        self.fields = fields
        self.close_after = close_after
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/x"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                extra = self.fields + (b"Connection: close\r\n" if self.close_after else b"")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), extra, body)
                )
                await writer.drain()
                if self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def call(pool: Pool, url: str, body: bytes, timeouts: Timeouts | None = None) -> bytes:
    response = await pool.send(post_target(url, {}), body, timeouts)
    data = await response.read()
    response.release()
    return data


@LOOPS
def test_200_concurrent_calls_share_the_capped_connections(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Counting(delay=0.005) as server:
            pool = Pool(Timeouts(connect=10, read=10), max_per_origin=8)
            bodies = [b'{"n":%d}' % n for n in range(200)]
            answers = await asyncio.gather(*(call(pool, server.url, body) for body in bodies))
            assert answers == bodies  # every call answered, each its own answer
            assert server.requests == 200
            assert server.peak == 8  # the cap was reached, and never passed
            assert server.connections == 8
            assert pool.idle_count() == 8
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_waiters_take_slots_freed_by_closed_connections(loop_kind: str) -> None:
    """An upstream that closes after every answer: each waiting call gets the freed slot
    and opens a connection of its own, never more than the cap at once."""

    async def scenario() -> None:
        async with Counting(delay=0.01, close_after=True) as server:
            pool = Pool(Timeouts(connect=10, read=10), max_per_origin=3)
            answers = await asyncio.gather(*(call(pool, server.url, b"%d" % n) for n in range(30)))
            assert answers == [b"%d" % n for n in range(30)]
            assert server.connections == 30
            assert server.peak <= 3
            origin = post_target(server.url, {}).origin
            await asyncio.sleep(0.05)
            assert pool.open_count(origin) == 0
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_waiting_for_a_connection_respects_the_connect_timeout(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Counting(delay=1.0) as server:
            pool = Pool(Timeouts(connect=10, read=10), max_per_origin=1)
            busy = asyncio.create_task(call(pool, server.url, b"first"))
            await asyncio.sleep(0.1)  # the one connection is busy for a second
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="the most per origin"):
                await call(pool, server.url, b"second", Timeouts(connect=0.2, read=10))
            assert 0.15 < time.monotonic() - started < 0.8
            assert await busy == b"first"
            # The slot the timed-out waiter gave up is not lost: the next call gets through.
            assert await call(pool, server.url, b"third") == b"third"
            assert server.connections == 1
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_total_deadline_ends_a_trickling_answer(loop_kind: str) -> None:
    """A body that keeps coming, one piece every 50 ms: the read timeout never fires, the
    total deadline does."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(200):
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
        for pool, per_call in (
            (Pool(Timeouts(connect=5, read=1, total=0.5)), None),  # the pool's default
            (Pool(Timeouts(connect=5, read=1)), Timeouts(connect=5, read=1, total=0.5)),
        ):
            started = time.monotonic()
            response = await pool.send(post_target(url, {}), b"{}", per_call)
            with pytest.raises(TimeoutError, match="did not end in time"):
                while await response.readany():
                    pass
            assert 0.4 < time.monotonic() - started < 1.0
            response.close()
            await pool.close()
        server.close()

    run(scenario, loop_kind)


@LOOPS
def test_total_deadline_covers_waiting_for_the_head(loop_kind: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
        pool = Pool(Timeouts(connect=5, read=10, total=0.3))
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pool.send(post_target(url, {}), b"{}")
        assert 0.25 < time.monotonic() - started < 1.0
        await pool.close()
        server.close()

    run(scenario, loop_kind)


@LOOPS
def test_keep_alive_timeout_of_the_upstream_is_honoured(loop_kind: str) -> None:
    """``Keep-Alive: timeout=1``: a connection idle for 0.1 s is reused, one idle for 0.8 s
    is not (the server would close it any moment), although the pool keeps them 60 s."""

    async def scenario() -> None:
        async with Counting(fields=b"Keep-Alive: timeout=1, max=100\r\n") as server:
            pool = Pool(Timeouts(connect=5, read=5), keepalive=60)
            assert await call(pool, server.url, b"a") == b"a"
            await asyncio.sleep(0.1)
            assert await call(pool, server.url, b"b") == b"b"
            assert server.connections == 1
            await asyncio.sleep(0.8)
            assert await call(pool, server.url, b"c") == b"c"
            assert server.connections == 2
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_without_keep_alive_field_the_pool_keepalive_applies(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Counting() as server:
            pool = Pool(Timeouts(connect=5, read=5), keepalive=60)
            assert await call(pool, server.url, b"a") == b"a"
            await asyncio.sleep(0.8)
            assert await call(pool, server.url, b"b") == b"b"
            assert server.connections == 1
            await pool.close()

    run(scenario, loop_kind)


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ("timeout=5", 4.0),
        ("timeout=5, max=100", 4.0),
        ("max=10, Timeout=30", 29.0),
        ("timeout=1", 0.5),
        ('timeout="2"', 1.0),
        ("timeout=0", 0.0),
        ("max=100", None),
        ("timeout=soon", None),
        ("timeout=-3", None),
        ("timeout=nan", None),
        ("", None),
    ],
)
def test_keep_alive_limit(value: str, limit: float | None) -> None:
    assert keep_alive_limit(value) == limit


def test_the_cap_must_allow_a_connection() -> None:
    with pytest.raises(ValueError):
        Pool(Timeouts(connect=1, read=1), max_per_origin=0)
