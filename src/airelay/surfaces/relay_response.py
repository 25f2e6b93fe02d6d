"""Writing the relay's outcome to the client: a whole body, or a stream with back-pressure
(``write`` waits while the client's socket is full)."""

from __future__ import annotations

from contextlib import aclosing

from aiohttp import web

from airelay.relay.pipeline import Streamed, Whole
from airelay.state import REQUEST_ID


async def respond(request: web.Request, outcome: Whole | Streamed) -> web.StreamResponse:
    if isinstance(outcome, Whole):
        whole = web.Response(body=outcome.body, status=outcome.status)
        whole.content_type = outcome.content_type
        return whole
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": outcome.content_type,
            "Cache-Control": "no-cache",
            "x-request-id": request[REQUEST_ID],
        },
    )
    # Closing the generator (also when the client goes away) closes the upstream call and
    # settles its cost.
    async with aclosing(outcome.chunks) as chunks:
        try:
            await response.prepare(request)
            async for data in chunks:
                await response.write(data)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
    return response
