"""The face of a JSON endpoint whose calls are not chat (embeddings, rerank, speech): read
the body, authenticate, check the body (400 in OpenAI's error shape), authorize the key for
the endpoint's permission and the model, and run the call through the relay pipeline.
What differs per endpoint is the data given to ``json_relay``, not the steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.usage import Usage
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import parse_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_relay(
    *,
    client: WireFormat,
    endpoint: Endpoint,
    permission: str,
    path: str,
    check: Callable[[Any], str],
    stream: bool = False,
    known: Callable[[dict[str, Any]], Usage | None] | None = None,
) -> Handler:
    """A handler for ``path``: ``check(payload)`` validates the body and names its model
    (``ValueError``: 400); ``known`` gives the usage the request itself tells (a speech's
    characters), reserved and billed when the upstream reports none."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        snapshot = state.cache.current
        body = await request.read()
        record = authenticate(
            snapshot, extract_key(request.headers, request.query), remote=request.remote
        )
        payload = parse_json(body)
        try:
            model = check(payload)
        except ValueError as exc:
            raise GatewayError(400, str(exc)) from exc
        authorize(record, permission=permission, model=model, remote=request.remote)
        call = Call(
            client=client,
            endpoint=endpoint,
            model=model,
            stream=stream,
            body=body,
            payload=payload,
            ir=None,
            path=path,
            request_id=request[REQUEST_ID],
            known=None if known is None else known(payload),
        )
        outcome = await run_call(state.relay, snapshot, record, call)
        return await respond(request, outcome)

    return handle
