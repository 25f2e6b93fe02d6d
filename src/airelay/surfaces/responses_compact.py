"""Compaction in the Responses API: ``POST /v1/responses/compact``, the ``compaction_trigger``
item of a ``POST /v1/responses`` (Codex CLI's remote compaction), and the ``compaction``
items a later request carries back (``formats.responses_compaction`` has the shapes).

A model with a channel that serves the Responses API natively gets the call passed through
(bytes, model renamed, billed on the upstream's usage). Any other model is compacted by the
gateway: the routed model summarises the conversation in one ordinary, billed relay call
(failover included); the summary goes back sealed for the caller's user
(``security.compaction_seal``) in a ``compaction`` item, and is put back in its place, in clear,
when a later request of that user brings the item, whatever channel serves it. A sealed
item that does not open (changed, or another user's) is a 400.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import responses_codec, responses_compaction
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.responses_shapes import decode_usage, frame
from airelay.formats.usage import Usage
from airelay.relay.answers import Whole
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.security.compaction_seal import Unsealable
from airelay.state import REQUEST_ID, STATE, AppState
from airelay.store.snapshot import KeyRecord, Snapshot
from airelay.surfaces import responses_store
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import parse_json

ENDPOINT = "/v1/responses/compact"
PERMISSION = "chat"


def native(snapshot: Snapshot, model: str) -> bool:
    """Whether a channel serving ``model`` compacts by itself (it serves the Responses API)."""
    return bool(snapshot.endpoint_routes.get(Endpoint.COMPACT, {}).get(model))


def expand_sealed(state: AppState, user_id: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """``payload`` with the gateway's compaction items put back as their summaries, or None
    when it holds none; 400 for one that does not open for ``user_id``."""
    items = payload.get("input")
    if not isinstance(items, list):
        return None
    try:
        expanded = responses_compaction.expand(items, lambda blob: state.sealer.open(user_id, blob))
    except Unsealable as exc:
        raise GatewayError(
            400, f"Invalid 'encrypted_content' of a compaction item: {exc}"
        ) from None
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from None
    if expanded is None:
        return None
    return {**payload, "input": expanded}


async def compact_response(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses/compact``."""
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = parse_json(await request.read())
    try:
        model = responses_compaction.check_compact_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission=PERMISSION, model=model, remote=request.remote)
    items = responses_compaction.items_of(payload.get("input"))
    if payload.get("previous_response_id") is not None:
        earlier = await responses_store.previous_items(
            state, record.user_id, payload["previous_response_id"]
        )
        items = earlier + items
    payload = {k: v for k, v in payload.items() if k != "previous_response_id"}
    payload["input"] = items
    payload = expand_sealed(state, record.user_id, payload) or payload
    if native(snapshot, model):
        call = Call(
            client=WireFormat.RESPONSES_COMPACT,
            endpoint=Endpoint.COMPACT,
            model=model,
            stream=False,
            body=orjson.dumps(payload),
            payload=payload,
            ir=None,
            path=ENDPOINT,
            request_id=request[REQUEST_ID],
            headers=request.headers,
        )
        return await respond(request, await run_call(state.relay, snapshot, record, call))
    summary = await _summarise(request, state, snapshot, record, payload)
    if isinstance(summary, Whole):
        return await respond(request, summary)
    text, usage = summary
    history = responses_compaction.history(payload["input"])
    output = [
        *responses_compaction.user_messages(history),
        responses_compaction.compaction_item(state.sealer.seal(record.user_id, text)),
    ]
    answer = responses_compaction.compacted(output, usage, int(time.time()))
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def compact_turn(
    request: web.Request,
    state: AppState,
    record: KeyRecord,
    payload: dict[str, Any],
    asked: dict[str, Any],
) -> tuple[web.StreamResponse, dict[str, Any] | None]:
    """A ``POST /v1/responses`` ending in a ``compaction_trigger`` for a model no channel
    compacts natively: answered (whole or streamed, as asked) with a response whose output
    is one sealed ``compaction`` item. Also the response object, for the store (None when
    the summary call failed)."""
    snapshot = state.cache.current
    summary = await _summarise(request, state, snapshot, record, payload)
    if isinstance(summary, Whole):
        return await respond(request, summary), None
    text, usage = summary
    item = responses_compaction.compaction_item(state.sealer.seal(record.user_id, text))
    answer = frame(None, "", str(payload["model"]), int(time.time()), "completed", [item], usage)
    answer["store"] = asked.get("store") is not False
    answer["previous_response_id"] = asked.get("previous_response_id")
    if payload.get("stream"):
        body = responses_compaction.events(answer)
        response = web.Response(body=body, content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        return response, answer
    return web.Response(body=orjson.dumps(answer), content_type="application/json"), answer


async def _summarise(
    request: web.Request,
    state: AppState,
    snapshot: Snapshot,
    record: KeyRecord,
    payload: dict[str, Any],
) -> tuple[str, Usage] | Whole:
    """The routed model's summary of the conversation and the usage it was billed, or the
    failed call's answer (in the Responses API's error shape) to send as it is."""
    items = responses_compaction.history(responses_compaction.items_of(payload.get("input")))
    asked = responses_compaction.summary_request(payload, items)
    try:
        ir = responses_codec.decode_request(asked)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    call = Call(
        client=WireFormat.RESPONSES,
        endpoint=Endpoint.RESPONSES,
        model=str(payload["model"]),
        stream=False,
        body=orjson.dumps(asked),
        payload=asked,
        ir=ir,
        path=ENDPOINT if request.path.endswith("/compact") else request.path,
        request_id=request[REQUEST_ID],
        headers=request.headers,
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    assert isinstance(outcome, Whole)  # not a stream call
    if outcome.status != 200:
        return outcome
    answer = orjson.loads(outcome.body)
    text = responses_compaction.summary_of(answer)
    if not text:
        raise GatewayError(502, "the model answered the compaction with no summary")
    usage = decode_usage(answer.get("usage") if isinstance(answer, dict) else None) or Usage()
    return text, usage
