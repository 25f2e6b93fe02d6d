"""``POST /v1/rerank``: the Jina/Cohere-style rerank face of the relay.

The body is checked (400 in OpenAI's error shape), the key must hold the ``rerank``
permission, and the call goes through the same pipeline as every endpoint: routed to the
channels that serve rerank for the model (passed through to a Jina/Cohere-style upstream,
translated for DashScope's native one), priced on its input tokens, counted offline when the
upstream reports none.
"""

from __future__ import annotations

from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import rerank
from airelay.formats.names import Endpoint, WireFormat
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import parse_json

PATH = "/v1/rerank"


async def rerank_documents(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = parse_json(body)
    try:
        model = rerank.check_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="rerank", model=model, remote=request.remote)
    call = Call(
        client=WireFormat.RERANK,
        endpoint=Endpoint.RERANK,
        model=model,
        stream=False,
        body=body,
        payload=payload,
        ir=None,
        path=PATH,
        request_id=request[REQUEST_ID],
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)
