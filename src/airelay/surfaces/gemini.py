"""The Gemini face: ``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent`` (SSE with ``alt=sse``, else a streamed JSON array),
``:countTokens``, and the embeddings methods ``:embedContent`` and ``:batchEmbedContents``
(also under ``/v1/models/``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from airelay.billing.tokens import count_messages
from airelay.errors import GatewayError
from airelay.formats import gemini_embeddings
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.formats.registry import codec
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.store.snapshot import KeyRecord, Snapshot
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import json_object, json_response

ACTIONS = (
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
)
#: The embeddings methods: the format of each, and its body's check.
EMBEDDINGS = {
    "embedContent": (WireFormat.GEMINI_EMBEDDING, gemini_embeddings.check_single),
    "batchEmbedContents": (WireFormat.GEMINI_EMBEDDINGS, gemini_embeddings.check_batch),
}


def _target(request: web.Request) -> tuple[str, str]:
    target = request.match_info["target"]
    model, _, action = target.rpartition(":")
    model = model.removeprefix("models/")
    if not model or action not in ACTIONS:
        raise GatewayError(404, f"Not found: unknown method '{action or target}'.")
    return model, action


async def model_action(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    model, action = _target(request)
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = json_object(body)
    if action == "countTokens":
        return await _count_tokens(snapshot, record, model, payload, request.remote)
    if action in EMBEDDINGS:
        return await _embed(request, snapshot, record, model, action, body, payload)
    stream = action == "streamGenerateContent"
    try:
        ir = codec(WireFormat.GEMINI).decode_request(payload, model=model, stream=stream)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=model, remote=request.remote)
    call = Call(
        client=WireFormat.GEMINI,
        model=model,
        stream=stream,
        body=body,
        payload=payload,
        ir=ir,
        endpoint=Endpoint.CHAT,
        path=f"/v1beta/models/{{model}}:{action}",
        request_id=request[REQUEST_ID],
        headers=request.headers,
        framing=(
            Framing.JSON_ARRAY if stream and request.query.get("alt") != "sse" else Framing.SSE
        ),
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)


async def _embed(
    request: web.Request,
    snapshot: Snapshot,
    record: KeyRecord,
    model: str,
    action: str,
    body: bytes,
    payload: dict[str, Any],
) -> web.StreamResponse:
    client, check = EMBEDDINGS[action]
    try:
        check(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="embeddings", model=model, remote=request.remote)
    call = Call(
        client=client,
        model=model,
        stream=False,
        body=body,
        payload=payload,
        ir=None,
        endpoint=Endpoint.EMBEDDINGS,
        path=f"/v1beta/models/{{model}}:{action}",
        request_id=request[REQUEST_ID],
    )
    outcome = await run_call(request.app[STATE].relay, snapshot, record, call)
    return await respond(request, outcome)


async def _count_tokens(
    snapshot: Snapshot, record: Any, model: str, payload: dict[str, Any], remote: str | None
) -> web.Response:
    authorize(record, permission="chat", model=model, remote=remote)
    if model not in snapshot.known_models:
        raise GatewayError(404, f"models/{model} is not found.")
    inner = payload.get("generateContentRequest") or payload.get("generate_content_request")
    if isinstance(inner, dict):
        payload = inner
    try:
        ir = codec(WireFormat.GEMINI).decode_request(payload, model=model, stream=False)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    return json_response({"totalTokens": await count_messages(ir)})
