"""What the relay needs of a way to reach an upstream: send one request, read its answer.

Two kinds implement it: the own HTTP/1.1 client (``airelay.client.Pool``, the direct
path: several times cheaper in CPU per call) and ``ProxiedTransport`` (aiohttp, for
channels behind an egress proxy). ``Transports`` picks one per channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from airelay.client import Target, Timeouts


class UpstreamResponse(Protocol):
    """An answer whose status and fields have arrived; the body follows.

    Read it whole (``read``, capped: ``TooLarge`` above the transport's limit) or in pieces
    (``readany``, ``b""`` at the end), then ``release()`` (the connection may serve another
    call) or ``close()`` (dropped, whatever is unread). Failures are ``TimeoutError`` or an
    ``airelay.client.UpstreamError``, whichever transport answered."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Field names in lower case; repeated fields joined with ", "."""
        ...

    async def read(self) -> bytes: ...

    async def readany(self) -> bytes: ...

    @property
    def ready(self) -> bool:
        """Whether ``readany`` would answer without waiting (False when unsure): a stream
        holds back what it would write until it must wait for the upstream."""
        ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    async def send(
        self, target: Target, body: bytes, timeouts: Timeouts | None = None
    ) -> UpstreamResponse:
        """Send ``target``'s request with ``body``; returns once the answer's head arrived.
        ``timeouts`` None: the transport's defaults. Raises ``TimeoutError`` or an
        ``UpstreamError``."""
        ...

    async def close(self) -> None: ...


async def send_whole(
    transport: Transport, target: Target, body: bytes, timeouts: Timeouts | None = None
) -> tuple[UpstreamResponse, bytes]:
    """Send a request and read its whole answer (off the relay's path: channel tests,
    token requests, counts): the answer, released, and its body. Raises as ``send`` and
    ``read`` do; the connection is dropped when the body cannot be read."""
    response = await transport.send(target, body, timeouts)
    try:
        answer = await response.read()
    except BaseException:
        response.close()
        raise
    response.release()
    return response, answer
