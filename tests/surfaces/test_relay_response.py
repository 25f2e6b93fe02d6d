"""A streamed response's head: it goes out with the first bytes when they follow at once
(one write), and alone on the next turn of the loop when they do not (a client never waits
for the head while the upstream is silent)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from airelay.surfaces.relay_response import _Stream


async def _serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    port: int = server.sockets[0].getsockname()[1]
    return runner, port


def _reads(port: int) -> list[tuple[float, bytes]]:
    """The raw reads of one GET, each with when it came (seconds after the request)."""
    got: list[tuple[float, bytes]] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        started = time.monotonic()
        while data := sock.recv(65536):
            got.append((time.monotonic() - started, data))
    return got


def _get(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> list[tuple[float, bytes]]:
    async def main() -> list[tuple[float, bytes]]:
        runner, port = await _serve(handler)
        try:
            return await asyncio.to_thread(_reads, port)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_head_and_first_bytes_in_one_write() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = _Stream(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write_eof(b"data: all at once\n\n")
        return response

    reads = _get(handler)
    first = reads[0][1]
    assert first.startswith(b"HTTP/1.1 200")
    assert b"data: all at once\n\n\r\n0\r\n\r\n" in first  # body and end in the same write


def test_head_goes_alone_when_the_upstream_is_silent() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = _Stream(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(1.0)  # the upstream thinks
        await response.write(b"data: later\n\n")
        await response.write_eof()
        return response

    reads = _get(handler)
    when, head = reads[0]
    assert head.startswith(b"HTTP/1.1 200") and b"later" not in head
    assert when < 0.5
    assert b"data: later" in b"".join(data for _, data in reads[1:])
