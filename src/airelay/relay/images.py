"""Fetching images given by URL for upstreams that only take inline data (Gemini).

The fetch is bounded in size and time and never reaches private, loopback, link-local or
otherwise non-public addresses: the resolver checks every address it hands the connector,
so a redirect or a DNS answer cannot lead inside.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from airelay.errors import GatewayError
from airelay.formats.ir import ChatRequest, Image

MAX_IMAGE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
AddressCheck = Callable[[str], bool]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyResolver(AbstractResolver):
    """Resolves like the default resolver, then keeps public addresses only."""

    def __init__(self, allowed: AddressCheck = is_public) -> None:
        self._inner = DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if self._allowed(r["host"])]
        if not public:
            raise OSError(f"{host} does not resolve to a public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def fetch_session(allowed: AddressCheck = is_public) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(allowed), limit=32)
    return aiohttp.ClientSession(connector=connector, timeout=FETCH_TIMEOUT, trust_env=False)


def remote_images(request: ChatRequest) -> list[Image]:
    return [
        part
        for message in request.messages
        for part in message.parts
        if isinstance(part, Image) and part.url and part.url.startswith(("http://", "https://"))
    ]


async def inline_remote_images(
    session: aiohttp.ClientSession, request: ChatRequest, max_bytes: int = MAX_IMAGE_BYTES
) -> None:
    """Replace every http(s) image URL of ``request`` by the image's bytes (400 if one
    cannot be fetched within the limits)."""
    images = remote_images(request)
    if images:
        await asyncio.gather(*(_inline(session, image, max_bytes) for image in images))


async def _inline(session: aiohttp.ClientSession, image: Image, max_bytes: int) -> None:
    assert image.url is not None
    try:
        async with session.get(image.url, max_redirects=3) as response:
            if response.status != 200:
                raise GatewayError(400, f"image URL answered HTTP {response.status}")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if not media_type.startswith("image/"):
                raise GatewayError(400, "image URL does not point to an image")
            data = await _read_capped(response, max_bytes)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise GatewayError(400, f"image URL could not be fetched: {_reason(exc)}") from exc
    image.data = base64.b64encode(data).decode("ascii")
    image.media_type = media_type
    image.url = None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise GatewayError(400, f"image is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Any) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError | OSError):
        return "address not allowed or unreachable"
    return type(exc).__name__
