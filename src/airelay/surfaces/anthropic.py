"""The Anthropic face: ``POST /v1/messages`` and ``/v1/messages/count_tokens``, and the
model list in Anthropic's shape for callers that send ``anthropic-version``.

The ``anthropic-beta`` header and the ``?beta=true`` query (the SDKs' beta namespace and
Claude Code send them) are kept as the call's extras: an Anthropic channel gets them, after
its rules; other upstreams do not."""

from __future__ import annotations

from aiohttp import web

from airelay.billing.tokens import count_messages
from airelay.errors import GatewayError
from airelay.formats.anthropic_betas import HEADER, beta_names, joined
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.registry import codec
from airelay.providers.base import ClientExtras
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import json_object, json_response
from airelay.surfaces.upstream_count import upstream_count

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
        extras=client_extras(request),
        headers=request.headers,
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """The upstream's own count when the model's first channel is Anthropic's API (free),
    else, or when that fails, the local tokenizer's."""
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    body = await request.read()
    payload = json_object(body)
    extras = client_extras(request)
    try:
        # A count request has no max_tokens; the decoder wants one.
        ir = codec(WireFormat.ANTHROPIC).decode_request({"max_tokens": 1, **payload})
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=ir.model, remote=request.remote)
    if ir.model not in snapshot.known_models:
        raise GatewayError(404, f"The model '{ir.model}' does not exist.")
    counted = await upstream_count(state, snapshot, ir.model, body, payload, extras)
    if counted is None:
        counted = await count_messages(ir)
    return json_response({"input_tokens": counted})


def client_extras(request: web.Request) -> ClientExtras | None:
    """The client's betas (header, and the ``beta`` query), checked: None without any, so
    that a call without them costs nothing more; 400 for a name that is not a beta's."""
    headers = request.headers.getall(HEADER, ())
    beta = request.query.get("beta") if request.query_string else None
    if not headers and beta is None:
        return None
    fields: dict[str, str] = {}
    if headers:
        try:
            names = beta_names(",".join(headers))
        except ValueError as exc:
            raise GatewayError(400, str(exc)) from None
        if names:
            fields[HEADER] = joined(names)
    return ClientExtras(fields, {} if beta is None else {"beta": beta})
