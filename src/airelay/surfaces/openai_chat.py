"""``POST /v1/chat/completions``: the OpenAI chat face of the relay."""

from __future__ import annotations

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import openai_chat
from airelay.formats.names import Endpoint, WireFormat
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond

ENDPOINT = "/v1/chat/completions"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as malformed:
        raise GatewayError(400, f"malformed JSON body: {malformed}") from malformed
    try:
        model, stream = openai_chat.check_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=model, remote=request.remote)
    call = Call(
        client=WireFormat.OPENAI,
        model=model,
        stream=stream,
        body=body,
        payload=payload,
        ir=None,
        endpoint=Endpoint.CHAT,
        path=ENDPOINT,
        request_id=request[REQUEST_ID],
        headers=request.headers,
        wants_usage=openai_chat.wants_usage(payload),
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)
