"""Sending a video task adapter's request through a channel's transport."""

from __future__ import annotations

import hashlib

from airelay.client import Timeouts, UpstreamError
from airelay.client.target import request_target
from airelay.providers.video_base import HttpRequest
from airelay.relay.scrub import scrub
from airelay.store.snapshot import ChannelRecord
from airelay.transport.base import Transport, UpstreamResponse


class Unreachable(Exception):
    """The upstream did not answer (connection, timeout): worth another channel or poll."""


def key_hash(key: str) -> str:
    """How a task remembers which of its channel's keys created it (never the key)."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_for(channel: ChannelRecord, digest: str | None) -> str:
    """The channel key that created a task (polls must use the same account), else the
    next one (keys rotated since)."""
    for key in channel.api_keys:
        if digest is not None and key_hash(key) == digest:
            return key
    return channel.next_key()


async def open_request(
    transport: Transport, request: HttpRequest, timeouts: Timeouts | None = None
) -> UpstreamResponse:
    """Send ``request``; its answer's head. Raises ``Unreachable``."""
    try:
        target = request_target(request.method, request.url, request.headers)
        return await transport.send(target, request.body, timeouts)
    except (TimeoutError, UpstreamError, OSError, ValueError) as exc:
        raise Unreachable(type(exc).__name__) from exc


async def fetch(
    transport: Transport, request: HttpRequest, timeouts: Timeouts | None = None
) -> tuple[int, bytes]:
    """Send ``request`` and read its whole answer. Raises ``Unreachable``."""
    response = await open_request(transport, request, timeouts)
    try:
        body = await response.read()
    except (TimeoutError, UpstreamError, OSError) as exc:
        response.close()
        raise Unreachable(type(exc).__name__) from exc
    response.release()
    return response.status, body


def error_message(body: bytes, channel: ChannelRecord) -> str:
    """An upstream's error text for the client, without the channel's secrets."""
    text = body.decode("utf-8", "replace")[:1000]
    return scrub(text, (*channel.api_keys, channel.base_url))
