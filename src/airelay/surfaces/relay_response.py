"""Writing the relay's outcome to the client: a whole body, or a stream with back-pressure
(``write`` waits while the client's socket is full)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from typing import cast

from aiohttp import web
from aiohttp.http_writer import StreamWriter

from airelay.front.request import FrontRequest, FrontStream, FrontWhole
from airelay.relay.answers import Whole
from airelay.relay.pipeline import Streamed
from airelay.state import REQUEST_ID, SENT_STATUS


async def respond(
    request: web.Request | FrontRequest,
    outcome: Whole | Streamed,
    tap: Callable[[bytes], None] | None = None,
    rewrite: Callable[[bytes], bytes] | None = None,
) -> web.StreamResponse:
    """Send ``outcome``; ``rewrite``, when given, changes each block of a stream before it
    is sent, and ``tap`` sees each block as it is sent."""
    # ``request`` was served by the gateway's own front (``airelay.front``), or by aiohttp.
    if isinstance(outcome, Whole):
        if isinstance(request, FrontRequest):
            # It stands in for aiohttp's response: the route wrapper reads ``prepared`` and
            # ``status`` and sets a header; the front writes it.
            own = FrontWhole(
                outcome.status,
                {"Content-Type": outcome.content_type, **outcome.headers},
                outcome.body,
            )
            return cast(web.StreamResponse, own)
        whole = web.Response(
            body=outcome.body, status=outcome.status, content_type=outcome.content_type
        )
        if outcome.headers:
            whole.headers.update(outcome.headers)
        return whole
    headers = {
        **outcome.headers,
        "Content-Type": outcome.content_type,
        "Cache-Control": "no-cache",
        "x-request-id": request[REQUEST_ID],
    }
    response: web.StreamResponse
    if isinstance(request, FrontRequest):  # its stream stands in, as its whole answer does
        response = cast(web.StreamResponse, FrontStream(request.protocol, headers))
    else:
        response = _Stream(status=200, headers=headers)
    try:
        # (A front's stream reads nothing of the request.)
        await response.prepare(cast(web.Request, request))
    except BaseException:
        outcome.abandon()
        raise
    request[SENT_STATUS] = response.status
    # The relay closes the upstream call and settles its cost however the stream ends.
    if tap is None and rewrite is None:
        ended = await outcome.run(response.write, response.write_eof)
    else:

        def change(block: bytes) -> bytes:
            if rewrite is not None:
                block = rewrite(block)
            if tap is not None:
                tap(block)
            return block

        async def write(block: bytes) -> None:
            await response.write(change(block))

        async def last(block: bytes) -> None:
            await response.write_eof(change(block) if block else block)

        ended = await outcome.run(write, last)
    if not ended:
        _cut(request)
        return response
    with suppress(ConnectionError):  # the client went away at the very end
        await response.write_eof()
    return response


class _Stream(web.StreamResponse):
    """A streamed response whose head goes out with its first bytes, in one write, when
    they follow within the same turn of the event loop (the relay writes what the upstream
    sent first right after ``prepare``); else the head goes out alone on the next turn, so
    a client never waits for the head while the upstream is silent."""

    _send_headers_immediately = False

    async def _write_headers(self) -> None:
        await super()._write_headers()
        writer = self._payload_writer
        # The writer's loop, not ``get_running_loop()`` (a system call per look-up on 3.11).
        loop = writer.loop if isinstance(writer, StreamWriter) else asyncio.get_running_loop()
        loop.call_soon(self._send_head)

    def _send_head(self) -> None:
        writer = self._payload_writer
        if writer is not None:
            with suppress(ConnectionError):  # the client left meanwhile
                writer.send_headers()


def _cut(request: web.Request | FrontRequest) -> None:
    """End a response whose stream was cut without its last chunk: the client sees a broken
    transfer, never a complete (shorter) file. What was written is flushed first."""
    request.protocol.force_close()
    transport = request.transport
    if transport is not None:
        transport.close()
