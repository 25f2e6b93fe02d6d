"""``POST /v1/responses``: the OpenAI Responses face of the relay (stateless: ``store`` is
accepted and not acted on yet, ``previous_response_id`` is refused until stored responses
exist). Errors answer in the OpenAI shape, which is the Responses API's own."""

from __future__ import annotations

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import responses_codec
from airelay.formats.ir import ChatRequest
from airelay.formats.names import Endpoint, WireFormat
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond

ENDPOINT = "/v1/responses"


async def create_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc
    ir: ChatRequest | None
    try:
        model, stream = responses_codec.check_request(payload)
        # Decoded once here, so that a malformed request is a 400 whatever channel serves
        # it; one only a Responses upstream can serve (built-in tools...) stays undecoded
        # and passes through (a translation of it fails over, channel by channel).
        try:
            ir = responses_codec.decode_request(payload)
        except responses_codec.Untranslatable:
            ir = None
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=model, remote=request.remote)
    call = Call(
        client=WireFormat.RESPONSES,
        model=model,
        stream=stream,
        body=body,
        payload=payload,
        ir=ir,
        endpoint=Endpoint.RESPONSES,
        path=ENDPOINT,
        request_id=request[REQUEST_ID],
        wants_usage=True,
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)
