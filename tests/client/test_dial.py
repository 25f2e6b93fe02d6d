"""Opening connections: happy eyeballs falls back to IPv4 when the first (IPv6) address
black-holes, well before the connect timeout; the DNS cache answers repeated and concurrent
lookups of a name with one query for its TTL, and forgets a name whose addresses fail; the
address check keeps the socket off refused addresses.

A black hole on loopback: a listening socket whose accept queue is full (backlog 0, one
connection never accepted) drops further SYNs, so a connect there hangs as it would to an
unroutable address. ``100::1`` (RFC 6666 discard prefix) is tried as well: it black-holes
or fails at once, depending on the host's IPv6 routes; either way the call must succeed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop
from support.tcp_server import LoopbackServer

from airelay.client import ConnectFailed, Pool, Resolver, Timeouts, post_target
from airelay.client.dial import AddrInfo

LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


def run(scenario: Callable[[], Coroutine[Any, Any, None]], loop_kind: str) -> None:
    (uvloop.run if loop_kind == "uvloop" else asyncio.run)(scenario())


def v4(port: int) -> AddrInfo:
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))


def v6(address: str, port: int) -> AddrInfo:
    return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))


@pytest.fixture
def ipv6_black_hole() -> Iterator[int]:
    """A port on [::1] whose connects hang (accept queue full)."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    listener = socket.socket(socket.AF_INET6)
    try:
        listener.bind(("::1", 0))
    except OSError:
        listener.close()
        pytest.skip("no [::1] on this host")
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("::1", port), timeout=2)
    probe = socket.socket(socket.AF_INET6)
    probe.settimeout(0.3)
    try:
        probe.connect(("::1", port))
        pytest.skip("this kernel accepts past the backlog: no black hole to test with")
    except TimeoutError:
        pass
    finally:
        probe.close()
    yield port
    filler.close()
    listener.close()


class Echo(LoopbackServer):
    def __init__(self) -> None:
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Names:
    """A lookup that answers chosen addresses and counts the queries."""

    def __init__(self, answers: list[AddrInfo], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.queries = 0

    async def __call__(self, host: str, port: int) -> list[AddrInfo]:
        self.queries += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return list(self.answers)


async def echo_call(pool: Pool, url: str, body: bytes = b"{}") -> bytes:
    response = await pool.send(post_target(url, {}), body)
    data = await response.read()
    response.release()
    return data


@LOOPS
def test_ipv6_black_hole_falls_back_to_ipv4(loop_kind: str, ipv6_black_hole: int) -> None:
    async def scenario() -> None:
        async with Echo() as server:
            names = Names([v6("::1", ipv6_black_hole), v4(server.port)])
            pool = Pool(Timeouts(connect=10, read=5), resolver=Resolver(lookup=names))
            started = time.monotonic()
            assert await echo_call(pool, f"http://dual.test:{server.port}/x", b"hi") == b"hi"
            elapsed = time.monotonic() - started
            # It waited on IPv6 for the happy-eyeballs delay, then IPv4 answered: seconds
            # before the 10 s connect timeout a sequential connect would have spent.
            assert 0.2 <= elapsed < 2.0, elapsed
            assert server.connections == 1
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_unroutable_ipv6_falls_back_to_ipv4(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Echo() as server:
            names = Names([v6("100::1", server.port), v4(server.port)])
            pool = Pool(Timeouts(connect=10, read=5), resolver=Resolver(lookup=names))
            started = time.monotonic()
            assert await echo_call(pool, f"http://dual.test:{server.port}/x") == b"{}"
            assert time.monotonic() - started < 2.0
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_dns_answers_are_cached_for_their_ttl(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Echo() as server:
            names = Names([v4(server.port)], delay=0.05)
            # A TTL long enough for 20 connections on a busy machine to come within it.
            resolver = Resolver(ttl=2.0, lookup=names)
            pool = Pool(Timeouts(connect=5, read=5), resolver=resolver)
            url = f"http://cached.test:{server.port}/x"
            # 20 calls at once open 20 connections, and ask the resolver once.
            await asyncio.gather(*(echo_call(pool, url) for _ in range(20)))
            assert server.connections == 20 and names.queries == 1
            # New connections within the TTL: still no query.
            fresh = Pool(Timeouts(connect=5, read=5), resolver=resolver)
            await echo_call(fresh, url)
            assert names.queries == 1
            await asyncio.sleep(2.1)
            await fresh.close()
            fresh = Pool(Timeouts(connect=5, read=5), resolver=resolver)
            await echo_call(fresh, url)
            assert names.queries == 2  # expired: asked again
            await fresh.close()
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_a_name_whose_addresses_fail_is_asked_again(loop_kind: str) -> None:
    async def scenario() -> None:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
        closed.close()
        async with Echo() as server:
            names = Names([v4(dead_port)])
            pool = Pool(Timeouts(connect=5, read=5), resolver=Resolver(ttl=60, lookup=names))
            url = f"http://moved.test:{server.port}/x"
            with pytest.raises(ConnectFailed):
                await echo_call(pool, url)
            names.answers = [v4(server.port)]  # the name moved
            assert await echo_call(pool, url) == b"{}"
            assert names.queries == 2
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_the_address_check_sees_resolved_addresses(loop_kind: str) -> None:
    async def scenario() -> None:
        async with Echo() as server:
            seen: list[tuple[str, int]] = []

            def allowed(address: str, port: int) -> bool:
                seen.append((address, port))
                return False

            pool = Pool(Timeouts(connect=5, read=5), allowed=allowed)
            with pytest.raises(ConnectFailed, match="no address"):
                await echo_call(pool, f"http://localhost:{server.port}/x")
            assert ("127.0.0.1", server.port) in seen
            assert server.connections == 0
            await pool.close()

    run(scenario, loop_kind)


@LOOPS
def test_an_unknown_name_is_a_connect_failure(loop_kind: str) -> None:
    async def scenario() -> None:
        pool = Pool(Timeouts(connect=5, read=5))
        with pytest.raises(ConnectFailed, match="could not be resolved"):
            await echo_call(pool, "http://no-such-host.invalid/x")
        await pool.close()

    run(scenario, loop_kind)
