"""A front on loopback with handlers that say who served them, and a raw HTTP/1.1 client
that sends exactly the bytes a test gives and reads answers off the socket."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from airelay.front.server import FrontRunner, FrontServer
from airelay.surfaces.protocol import PARSER_LIMITS

HOT = "/v1/chat/completions"
COLD = "/v1/models"

Handler = Callable[[Any], Awaitable[web.StreamResponse]]


async def echo(request: Any) -> web.StreamResponse:
    """Who served the request, and what it read."""
    body = await request.read()
    served = "front" if type(request).__name__ == "FrontRequest" else "aiohttp"
    return web.json_response(
        {"served": served, "body": body.decode(), "query": dict(request.query)},
        headers={"x-path": request.path},
    )


@asynccontextmanager
async def front(
    hot: Handler = echo,
    *,
    max_body: int = 1024,
    header_timeout: float = 5.0,
) -> AsyncIterator[tuple[int, FrontRunner]]:
    """A front serving ``hot`` at ``HOT`` and ``echo`` at ``COLD`` (through aiohttp)."""
    app = web.Application(client_max_size=max_body)
    app.router.add_post(HOT, hot)
    app.router.add_get(COLD, echo)
    app.router.add_post(COLD, echo)
    runner = FrontRunner(
        app, handler_cancellation=True, keepalive_timeout=header_timeout, **PARSER_LIMITS
    )
    await runner.setup()
    assert runner.server is not None
    runner.front = FrontServer(
        app, runner.server, [HOT], max_body=max_body, header_timeout=header_timeout
    )
    port = await runner.front.listen("127.0.0.1", 0)
    try:
        yield port, runner
    finally:
        await runner.cleanup()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_head: bytes = b""
    chunks: list[bytes] = field(default_factory=list)


class Client:
    """One connection; ``send`` writes bytes as given, ``answer`` reads one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_cut(self, data: bytes, *cuts: int) -> None:
        """``data`` in separate reads, cut at ``cuts`` (slice indices, in order)."""
        edges = [0, *cuts, len(data)]
        for start, end in itertools.pairwise(edges):
            await self.send(data[start:end])
            await asyncio.sleep(0.02)

    async def head(self) -> tuple[int, dict[str, str], bytes]:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = raw.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(": ")
                headers[name.lower()] = value
        return status, headers, raw

    async def answer(self) -> Answer:
        status, headers, raw = await self.head()
        while status == 100:
            status, headers, raw = await self.head()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
            return Answer(status, headers, body, raw)
        chunks = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return Answer(status, headers, b"".join(chunks), raw, chunks)

    async def closed(self) -> bool:
        """Whether the gateway closed the connection (no more bytes, end of stream)."""
        try:
            return await asyncio.wait_for(self.reader.read(1), 5) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: gw", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
