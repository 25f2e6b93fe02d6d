"""Fetching images given by URL for upstreams that only take inline data (Gemini).

The fetch never reaches a non-public address (private, loopback, link-local, unique-local,
multicast, unspecified, reserved, cloud metadata), whatever the spelling:

- the check is on the address each socket is about to connect to (the transport's dialer
  sees every address, resolved from a name or written as a literal, in any of the forms
  the resolver accepts: ``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``..., and connects
  to exactly the addresses that passed), so neither a literal nor a DNS answer nor a
  rebinding can lead inside;
- IPv6 addresses that carry an IPv4 address (mapped, compatible, 6to4, NAT64) are judged
  by the IPv4 address they carry;
- redirects are followed here, a few at most, and each hop's URL is checked again (http or
  https, no user info) before its connection is checked as above.

Every failure, whatever its cause (refused, unreachable, not public, timed out, HTTP error,
not an image, too big, malformed URL) answers one and the same message: an answer must not
tell a caller what listens where.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress

from yarl import URL

from airelay.client import AddressCheck, Pool, Timeouts, UpstreamError, request_target
from airelay.errors import GatewayError
from airelay.formats.ir import ChatRequest, Image
from airelay.transport.base import Transport, UpstreamResponse

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
# Per connection, per read, and for a whole fetch, redirects included.
FETCH_TIMEOUTS = Timeouts(connect=5, read=15, total=15)
FETCH_FAILED = "the image URL could not be fetched"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = {"Accept": "image/*"}

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


class _Refused(Exception):
    """Any reason not to inline an image; only ever answered as ``FETCH_FAILED``."""


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP literal, IPv6 maybe with ``%scope``) is a public unicast
    address; anything unparsable is not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _public_v4(ip)
    embedded = _embedded_v4(ip)
    if embedded is not None:
        return _public_v4(embedded)
    return (
        ip in _GLOBAL_UNICAST_V6
        and ip.is_global
        and not (ip.is_multicast or ip.is_reserved or ip.is_site_local)
    )


def _public_v4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped (``::ffff:a.b.c.d``), compatible
    (``::a.b.c.d``), 6to4 (``2002:AABB:CCDD::``) and NAT64 (``64:ff9b::a.b.c.d``)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    value = int(ip)
    if value >> 32 == 0 and value > 1:  # compatible; :: and ::1 are judged as themselves
        return ipaddress.IPv4Address(value)
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def public_address(address: str, port: int) -> bool:
    return is_public(address)


def fetch_transport(
    allowed: AddressCheck = public_address, timeouts: Timeouts = FETCH_TIMEOUTS
) -> Pool:
    """The image fetches' transport: the own client, connecting only where ``allowed`` says
    (tests allow one loopback port besides public addresses)."""
    return Pool(timeouts, max_body=MAX_IMAGE_BYTES, max_per_origin=32, allowed=allowed)


def remote_images(request: ChatRequest) -> list[Image]:
    return [
        part
        for message in request.messages
        for part in message.parts
        if isinstance(part, Image) and part.url and part.url.startswith(("http://", "https://"))
    ]


async def inline_remote_images(
    transport: Transport,
    request: ChatRequest,
    max_bytes: int = MAX_IMAGE_BYTES,
    seconds: float | None = FETCH_TIMEOUTS.total,
) -> None:
    """Replace every http(s) image URL of ``request`` by the image's bytes (400 if one
    cannot be fetched within the limits: ``max_bytes``, ``seconds`` for all its hops)."""
    images = remote_images(request)
    if images:
        await asyncio.gather(*(_inline(transport, image, max_bytes, seconds) for image in images))


async def _inline(
    transport: Transport, image: Image, max_bytes: int, seconds: float | None
) -> None:
    assert image.url is not None
    try:
        # One deadline for the whole chain of hops, not one per hop.
        async with asyncio.timeout(seconds):
            media_type, data = await _fetch(transport, image.url, max_bytes)
    except (_Refused, UpstreamError, OSError, TimeoutError, ValueError) as exc:
        raise GatewayError(400, FETCH_FAILED) from exc
    image.data = base64.b64encode(data).decode("ascii")
    image.media_type = media_type
    image.url = None


async def fetch_image(
    transport: Transport,
    url: str,
    max_bytes: int = MAX_IMAGE_BYTES,
    seconds: float | None = FETCH_TIMEOUTS.total,
) -> tuple[str, bytes]:
    """One image by URL (its media type and bytes) within the same limits; raises
    ``ValueError`` with the one neutral message when it cannot be had."""
    try:
        async with asyncio.timeout(seconds):
            return await _fetch(transport, url, max_bytes)
    except (_Refused, UpstreamError, OSError, TimeoutError, ValueError) as exc:
        raise ValueError(FETCH_FAILED) from exc


async def _fetch(transport: Transport, url: str, max_bytes: int) -> tuple[str, bytes]:
    target = _checked_url(URL(url))
    for _ in range(MAX_REDIRECTS + 1):
        response = await transport.send(request_target("GET", str(target), _ACCEPT), b"")
        try:
            if response.status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise _Refused("redirect without a location")
                target = _checked_url(target.join(URL(location)))
                response.close()
                continue
            if response.status != 200:
                raise _Refused(f"HTTP {response.status}")
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            if not media_type.startswith("image/"):
                raise _Refused("not an image")
            data = await _read_capped(response, max_bytes)
        except BaseException:
            response.close()
            raise
        response.release()
        return media_type, data
    raise _Refused("too many redirects")


def _checked_url(url: URL) -> URL:
    """An absolute http(s) URL with a host and no user info (``http://public@10.0.0.1/``
    reads as a public name to a person, and is none)."""
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise _Refused("not an http(s) URL")
    if url.raw_user is not None or url.raw_password is not None:
        raise _Refused("user info in URL")
    return url.with_fragment(None)


async def _read_capped(response: UpstreamResponse, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Refused("too big")
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.readany():
        size += len(chunk)
        if size > max_bytes:
            raise _Refused("too big")
        chunks.append(chunk)
    return b"".join(chunks)
