"""The Anthropic face: ``POST /v1/messages`` and ``/v1/messages/count_tokens``, and the
model list in Anthropic's shape for callers that send ``anthropic-version``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from airelay.billing.tokens import count_messages
from airelay.errors import GatewayError
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.registry import codec
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import json_object, json_response

ENDPOINT = "/v1/messages"


async def messages(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = json_object(body)
    try:
        ir = codec(WireFormat.ANTHROPIC).decode_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=ir.model, remote=request.remote)
    call = Call(
        client=WireFormat.ANTHROPIC,
        model=ir.model,
        stream=ir.stream,
        body=body,
        payload=payload,
        ir=ir,
        endpoint=Endpoint.CHAT,
        path=ENDPOINT,
        request_id=request[REQUEST_ID],
        headers=request.headers,
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = json_object(await request.read())
    payload.setdefault("max_tokens", 1)  # not part of a count request
    try:
        ir = codec(WireFormat.ANTHROPIC).decode_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=ir.model, remote=request.remote)
    if ir.model not in snapshot.known_models:
        raise GatewayError(404, f"The model '{ir.model}' does not exist.")
    # The first count loads the tokenizer (~0.4 s): off the event loop.
    return json_response({"input_tokens": await asyncio.to_thread(count_messages, ir)})
