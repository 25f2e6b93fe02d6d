"""The two upstream clients behind one tiny interface, shared by every candidate server.

A proxy calls ``forward(body, content_type)`` and gets an ``Upstream`` back: if the upstream
sent a Content-Length, ``body`` holds the whole response; otherwise ``chunks`` yields the raw
bytes as they arrive (SSE). ``close()`` must be awaited in both cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx


@dataclass(slots=True)
class Upstream:
    status: int
    content_type: str
    body: bytes | None
    chunks: AsyncIterator[bytes] | None
    close: Callable[[], Awaitable[None]]


Forward = Callable[[bytes, str], Awaitable[Upstream]]


async def _noop() -> None:
    return None


def aiohttp_forwarder(url: str) -> Forward:
    """One pooled aiohttp.ClientSession, keep-alive, no connection limit."""
    session: aiohttp.ClientSession | None = None

    async def forward(body: bytes, content_type: str) -> Upstream:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=300),
            )
        resp = await session.post(url, data=body, headers={"Content-Type": content_type})
        ctype = resp.headers.get("Content-Type", "application/json")
        if resp.content_length is not None:
            data = await resp.read()
            resp.release()
            return Upstream(resp.status, ctype, data, None, _noop)

        async def release() -> None:
            resp.release()

        return Upstream(resp.status, ctype, None, resp.content.iter_any(), release)

    return forward


def httpx_forwarder(url: str) -> Forward:
    """One pooled httpx.AsyncClient (HTTP/1.1, keep-alive, no connection limit)."""
    client: httpx.AsyncClient | None = None

    async def forward(body: bytes, content_type: str) -> Upstream:
        nonlocal client
        if client is None:
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000),
                timeout=httpx.Timeout(300.0, connect=5.0),
            )
        req = client.build_request(
            "POST", url, content=body, headers={"Content-Type": content_type}
        )
        resp = await client.send(req, stream=True)
        ctype = resp.headers.get("Content-Type", "application/json")
        if "Content-Length" in resp.headers:
            data = await resp.aread()
            await resp.aclose()
            return Upstream(resp.status_code, ctype, data, None, _noop)
        return Upstream(resp.status_code, ctype, None, resp.aiter_raw(), resp.aclose)

    return forward


def make_forwarder(client: str, url: str) -> Forward:
    if client == "aiohttp":
        return aiohttp_forwarder(url)
    if client == "httpx":
        return httpx_forwarder(url)
    raise ValueError(f"unknown client {client!r}")
