"""The cap on a whole answer's body (``Pool(max_body=...)``): a larger body fails with
``TooLarge`` as soon as it passes the cap, plain, chunked or compressed (a small gzip
piece that inflates past the cap is stopped while inflating), and the connection closes;
a body at the cap, and a stream read in pieces, are not affected."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from airelay.client import Pool, Timeouts, TooLarge, post_target

CAP = 64 * 1024
LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


async def _serve(
    head: bytes, pieces: list[bytes], check: Callable[[Pool, str], Awaitable[None]]
) -> None:
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            for piece in pieces:  # bounded: the scripted pieces
                writer.write(piece)
                await writer.drain()
            await reader.read()  # until the client closes
        except ConnectionError:
            pass
        finally:
            closed.set()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(Timeouts(connect=5, read=5), max_body=CAP)
    try:
        await check(pool, f"http://127.0.0.1:{port}/v1/chat/completions")
        await asyncio.wait_for(closed.wait(), 5)  # the client let go of the connection
    finally:
        await pool.close()
        server.close()


def _run(
    loop_kind: str, head: bytes, pieces: list[bytes], check: Callable[[Pool, str], Awaitable[None]]
) -> None:
    runner = uvloop.run if loop_kind == "uvloop" else asyncio.run
    runner(_serve(head, pieces, check))


async def _expect_too_large(pool: Pool, url: str) -> None:
    response = await pool.send(post_target(url, {}), b"{}")
    with pytest.raises(TooLarge):
        await response.read()
    response.close()


@LOOPS
def test_length_body_over_the_cap(loop_kind: str) -> None:
    size = 8 * CAP
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    _run(loop_kind, head, [b"x" * 4096] * (size // 4096), _expect_too_large)


@LOOPS
def test_chunked_body_over_the_cap(loop_kind: str) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    _run(loop_kind, head, [piece] * 64, _expect_too_large)


@LOOPS
def test_gzip_bomb_is_stopped_while_inflating(loop_kind: str) -> None:
    bomb = gzip.compress(b"\x00" * (64 * CAP))  # ~4 MiB from a few KiB
    assert len(bomb) < CAP
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)
    _run(loop_kind, head, [bomb], _expect_too_large)


@LOOPS
def test_body_at_the_cap_is_read(loop_kind: str) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % CAP

    async def check(pool: Pool, url: str) -> None:
        response = await pool.send(post_target(url, {}), b"{}")
        assert len(await response.read()) == CAP
        response.release()

    _run(loop_kind, head, [b"x" * CAP], check)


@LOOPS
def test_stream_read_in_pieces_is_not_capped(loop_kind: str) -> None:
    size = 8 * CAP
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size

    async def check(pool: Pool, url: str) -> None:
        response = await pool.send(post_target(url, {}), b"{}")
        total = 0
        for _ in range(10_000):  # bounded
            piece = await response.readany()
            if not piece:
                break
            total += len(piece)
        assert total == size
        response.release()

    _run(loop_kind, head, [b"x" * 4096] * (size // 4096), check)
