"""The pipelined Redis client: RESP parsing (property-tested against packing), many
commands in flight on one connection, a script Redis lost run again by its text, the
connection's timeout, reconnection after a restart, and a password and database from the
URL; against a real Redis (skipped with the reason when none answers, mandatory in CI)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st
from support.quiet_server import late_pong_server, quiet_server
from support.redis_server import RedisProcess, require_redis

from airelay.store import resp
from airelay.store.redis_scripts import LibraryScripts, PipelinedScripts, open_scripts
from airelay.store.resp import Pipelined, Prepared, ReplyError, Script, parse, parse_url


def _encode(value: Any) -> bytes:
    """A RESP2 answer for ``value`` (what a server would send)."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    return b"*%d\r\n" % len(value) + b"".join(_encode(item) for item in value)


answers = st.recursive(
    st.none() | st.integers(-(2**63), 2**63 - 1) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@given(st.lists(answers, min_size=1, max_size=5), st.integers(1, 7))
def test_parse_reads_answers_split_anywhere(values: list[Any], step: int) -> None:
    """Answers cut at any byte are read once whole, in order, and nothing else."""
    data = b"".join(_encode(value) for value in values)
    buffer = bytearray()
    got: list[Any] = []
    for start in range(0, len(data), step):
        buffer += data[start : start + step]
        pos = 0
        while pos < len(buffer):
            try:
                value, pos = parse(buffer, pos)
            except resp._Incomplete:
                break
            got.append(value)
        del buffer[:pos]
    assert got == values
    assert not buffer


def test_parse_errors_and_simple_strings() -> None:
    error, end = parse(b"-NOSCRIPT No matching script\r\n", 0)
    assert isinstance(error, ReplyError) and error.code == "NOSCRIPT"
    assert end == len(b"-NOSCRIPT No matching script\r\n")
    assert parse(b"+OK\r\n", 0) == (b"OK", 5)
    with pytest.raises(resp.ProtocolError):
        parse(b"?what\r\n", 0)


def test_pack_refuses_what_redis_would_not_read() -> None:
    assert resp.pack([b"GET", "k", 7]) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\n7\r\n"
    with pytest.raises(TypeError):
        resp.pack([b"SET", "k", 1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        resp.pack([b"SET", "k", True])


def test_urls() -> None:
    target = parse_url("redis://user:p%40ss@example.org:6380/3")
    assert (target.host, target.port, target.username, target.password, target.db) == (
        "example.org",
        6380,
        "user",
        "p@ss",
        3,
    )
    assert parse_url("redis://:secret@127.0.0.1").password == "secret"
    assert parse_url("redis://127.0.0.1?db=2").db == 2
    socket_target = parse_url("unix:///run/redis.sock?db=4")
    assert (socket_target.path, socket_target.db) == ("/run/redis.sock", 4)
    with pytest.raises(ValueError, match="rediss"):
        parse_url("rediss://example.org")


def test_open_scripts_falls_back_to_the_library() -> None:
    assert isinstance(open_scripts("redis://127.0.0.1"), PipelinedScripts)
    assert isinstance(open_scripts("unix:///run/redis.sock"), PipelinedScripts)
    assert isinstance(open_scripts("rediss://127.0.0.1"), LibraryScripts)
    assert isinstance(open_scripts("redis://127.0.0.1", "redis-py"), LibraryScripts)


def run(body: Any) -> Any:
    return asyncio.run(body())


def test_many_commands_in_flight_share_one_connection() -> None:
    url = require_redis()
    key = "airelay:test:resp:" + uuid.uuid4().hex

    async def body() -> None:
        client = Pipelined(url, 2.0)
        try:
            answers = await asyncio.gather(*(client.call(b"INCR", key) for _ in range(500)))
            assert sorted(answers) == list(range(1, 501))
            # In order: each command's answer is its own.
            echoes = await asyncio.gather(*(client.call(b"ECHO", str(i)) for i in range(300)))
            assert echoes == [str(i).encode() for i in range(300)]
            clients = await client.call(b"CLIENT", b"LIST")
            name = b"id=%d " % await client.call(b"CLIENT", b"ID")
            assert name in clients
            with pytest.raises(ReplyError, match="WRONGTYPE"):
                await client.call(b"LPUSH", key, b"x")
            assert await client.call(b"GET", key) == b"500"  # an error leaves the rest
        finally:
            await client.call(b"DEL", key)
            await client.close()

    run(body)


def test_a_script_redis_lost_runs_by_its_text() -> None:
    url = require_redis()
    marker = uuid.uuid4().hex  # a script Redis has never seen
    script = Script.of(f"return {{ARGV[1], '{marker}', #KEYS}}")
    prepared = Prepared.of(script, ["a", "b"], [b"first"], 1)

    async def body() -> None:
        client = PipelinedScripts(url, 2.0)
        try:
            assert await client.run(prepared, [b"x"]) == [b"first", marker.encode(), 2]
            assert await client.run(prepared, [b"y"]) == [b"first", marker.encode(), 2]
            await client.call(b"SCRIPT", b"FLUSH")
            got: list[Any] = []
            client.post_script(prepared, [b"z"], got.append)
            await client.sync()
            assert got == [[b"first", marker.encode(), 2]]
            with pytest.raises(ValueError, match="1 more"):
                prepared.command([b"a", b"b"])
        finally:
            await client.close()

    run(body)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    with quiet_server() as port:
        yield port


def test_no_answer_times_out_every_command_on_the_connection(silent_server: int) -> None:
    async def body() -> None:
        client = Pipelined(f"redis://127.0.0.1:{silent_server}", 0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        lost: list[Any] = []
        client.post((b"PING",), lost.append)
        results = await asyncio.gather(
            *(client.call(b"PING") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, TimeoutError) for result in results), results
        assert 0.15 < loop.time() - started < 1.5
        assert len(lost) == 1 and isinstance(lost[0], TimeoutError)
        await client.close()

    run(body)


class _Stall(asyncio.Protocol):
    """Holds the event loop up (a blocking call) in its read callback, as a long callback
    on another connection would."""

    def data_received(self, data: bytes) -> None:
        time.sleep(0.5)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_held_up_event_loop_is_not_taken_for_a_silent_redis(loop: str) -> None:
    """The event loop is held up past the timeout (in another connection's read callback)
    while a command is out, and Redis answers meanwhile: its answer, waiting unread in the
    socket, is read rather than the connection failed. (uvloop runs the timers that are
    due before it polls the sockets again: there the timeout's check came first.)"""

    async def body(port: int) -> None:
        client = Pipelined(f"redis://127.0.0.1:{port}", 0.2)
        here, there = socket.socketpair()
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(_Stall, here)
        try:
            assert await client.call(b"PING") == b"PONG"  # connected
            await asyncio.sleep(0.3)  # idle: the next command starts the timeout afresh
            answer = asyncio.ensure_future(client.call(b"PING"))
            for _ in range(3):  # the task writes its command (flushed on the next turn)
                await asyncio.sleep(0)
            there.send(b"x")  # the loop held up 0.5 s; the answer comes 0.05 s into it
            assert await answer == b"PONG"
            assert await client.call(b"PING") == b"PONG"  # the same connection, still open
        finally:
            transport.close()
            there.close()
            await client.close()

    with late_pong_server(0.05) as port:
        if loop == "uvloop":
            uvloop.run(body(port))
        else:
            asyncio.run(body(port))


def test_a_silent_redis_still_times_out_on_time_after_a_held_up_loop(
    silent_server: int,
) -> None:
    """The allowance for a held-up loop is no extra wait once the loop runs freely: a
    server that never answers is given up on within the timeout and a small margin."""

    async def body() -> None:
        client = Pipelined(f"redis://127.0.0.1:{silent_server}", 0.2)
        loop = asyncio.get_running_loop()
        here, there = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(_Stall, here)
        answer = asyncio.ensure_future(client.call(b"PING"))
        for _ in range(3):
            await asyncio.sleep(0)
        there.send(b"x")  # held up once: the first check comes late and looks again
        await asyncio.sleep(0.05)
        started = loop.time()
        with pytest.raises(TimeoutError):
            await answer
        assert loop.time() - started < 0.5
        transport.close()
        there.close()
        await client.close()

    uvloop.run(body())


def test_unreachable_redis_fails_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed

    async def body() -> None:
        client = PipelinedScripts(f"redis://127.0.0.1:{port}", 0.2)
        with pytest.raises(OSError) as caught:
            await client.call(b"PING")
        assert client.failed(caught.value)
        lost: list[Any] = []
        client.post((b"PING",), lost.append)
        await client.sync()
        assert len(lost) == 1 and isinstance(lost[0], OSError)
        await client.close()

    run(body)


def test_reconnects_after_a_restart() -> None:
    with RedisProcess() as server:

        async def body() -> None:
            client = Pipelined(server.url, 1.0)
            try:
                assert await client.call(b"SET", b"k", b"v") == b"OK"
                server.kill()
                with pytest.raises((OSError, TimeoutError)):
                    await client.call(b"PING")
                server.start()
                assert await client.call(b"GET", b"k") is None  # a new server, no saves
                assert await client.call(b"PING") == b"PONG"
            finally:
                await client.close()

        run(body)


def test_password_and_database_from_the_url() -> None:
    with RedisProcess() as server:

        async def body() -> None:
            admin = Pipelined(server.url, 1.0)
            await admin.call(b"SET", b"where", b"db0")
            await admin.call(b"CONFIG", b"SET", b"requirepass", b"s3cret")
            await admin.close()
            client = Pipelined(f"redis://:s3cret@127.0.0.1:{server.port}/5", 1.0)
            try:
                assert await client.call(b"GET", b"where") is None
                await client.call(b"SET", b"where", b"db5")
                assert await client.call(b"GET", b"where") == b"db5"
            finally:
                await client.close()
            wrong = Pipelined(f"redis://:wrong@127.0.0.1:{server.port}/0", 1.0)
            with pytest.raises(ReplyError):
                await wrong.call(b"PING")
            await wrong.close()
            unauthenticated = Pipelined(server.url, 1.0)
            with pytest.raises(ReplyError, match="NOAUTH"):
                await unauthenticated.call(b"GET", b"where")
            await unauthenticated.close()

        run(body)
