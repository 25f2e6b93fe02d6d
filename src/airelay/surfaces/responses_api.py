"""``POST /v1/responses``: the OpenAI Responses face of the relay. Errors answer in the
OpenAI shape, which is the Responses API's own.

Stored responses (``surfaces.responses_store``): a request naming ``previous_response_id``
goes upstream with the whole conversation (the stored turns' inputs and outputs, then its
own input), since no upstream knows the gateway's ids; an answer is kept for its user
unless the request said ``"store": false``, the final response object read from the whole
body or, for a stream, from the terminal event the client was sent."""

from __future__ import annotations

import dataclasses
from contextlib import suppress
from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import responses_codec, responses_compaction, responses_history
from airelay.formats.framing import SseDeframer
from airelay.formats.ir import ChatRequest
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.responses_echo import StoredEcho
from airelay.formats.responses_shapes import TERMINAL_EVENTS
from airelay.relay.answers import Whole
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE, AppState
from airelay.surfaces import responses_compact, responses_store
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import parse_json

ENDPOINT = "/v1/responses"


async def create_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    payload = parse_json(body)
    asked = payload  # the client's own request, as a stored response keeps it
    if isinstance(payload, dict) and payload.get("previous_response_id") is not None:
        payload, body = await _continued(state, record.user_id, payload)
    # (``find``, not ``in``: see ``formats.sse``) Items are read only then.
    if isinstance(payload, dict) and body.find(b"compaction") >= 0:
        expanded = responses_compact.expand_sealed(state, record.user_id, payload)
        if expanded is not None:
            payload, body = expanded, orjson.dumps(expanded)
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
    if responses_compaction.triggered(payload) and not responses_compact.native(snapshot, model):
        response, kept = await responses_compact.compact_turn(
            request, state, record, payload, asked
        )
        if kept is not None and asked.get("store") is not False:
            await _keep(state, record.user_id, record.id, asked, kept)
        return response
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
        headers=request.headers,
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    if asked.get("store") is False:
        return await respond(request, outcome)
    if isinstance(outcome, Whole):
        if outcome.status != 200:
            return await respond(request, outcome)
        answer = _as_asked(orjson.loads(outcome.body), asked)
        outcome = dataclasses.replace(outcome, body=orjson.dumps(answer))
        response = await respond(request, outcome)
        await _keep(state, record.user_id, record.id, asked, answer)
        return response
    final = _FinalResponse()
    # The events say what the client asked (stored, continuing ...), not what the upstream
    # (which got the whole conversation, unstored) said.
    echo = StoredEcho(store=True, previous_response_id=asked.get("previous_response_id"))
    response = await respond(request, outcome, final.feed, echo.block)
    kept = final.response
    if kept is not None:
        await _keep(state, record.user_id, record.id, asked, kept)
    return response


async def _continued(
    state: AppState, user_id: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """The request with the stored conversation before its own input, for the upstream."""
    history = await responses_store.previous_items(state, user_id, payload["previous_response_id"])
    try:
        own = responses_history.input_items(payload.get("input"))
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    expanded = {k: v for k, v in payload.items() if k != "previous_response_id"}
    expanded["input"] = history + own
    return expanded, orjson.dumps(expanded)


def _as_asked(answer: Any, asked: dict[str, Any]) -> Any:
    """A kept answer says it is stored and what it continues, whatever the upstream (which
    got the whole conversation and no id) said."""
    if isinstance(answer, dict):
        answer["store"] = True
        answer["previous_response_id"] = asked.get("previous_response_id")
    return answer


async def _keep(
    state: AppState, user_id: str, token_id: str, asked: dict[str, Any], answer: object
) -> None:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        return
    _as_asked(answer, asked)
    # An id too long to keep (ValueError): the answer was sent, it is not stored.
    with suppress(ValueError):
        await responses_store.remember(
            state, user_id=user_id, token_id=token_id, request_payload=asked, response_object=answer
        )


# The terminal events, as every Responses stream names them (``event: ...``).
_TERMINAL_MARKS = tuple(b"event: " + name.encode() for name in sorted(TERMINAL_EVENTS))
_MARK_LEN = max(map(len, _TERMINAL_MARKS))


class _FinalResponse:
    """The response object of a stream's terminal event, read from what the client got:
    blocks are only searched for the event's name (it may straddle two blocks) until it
    shows, and only what follows it is parsed."""

    __slots__ = ("_kept", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._kept: bytearray | None = None

    def feed(self, block: bytes) -> None:
        if self._kept is not None:
            self._kept += block
            return
        seen = self._tail + block
        for mark in _TERMINAL_MARKS:
            at = seen.find(mark)
            if at >= 0:
                self._kept = bytearray(seen[at:])
                return
        self._tail = seen[-_MARK_LEN:]

    @property
    def response(self) -> dict[str, Any] | None:
        if self._kept is None:
            return None
        events = SseDeframer()
        for name, data in [*events.feed(bytes(self._kept)), *events.close()]:
            if name in TERMINAL_EVENTS:
                event = orjson.loads(data)
                if isinstance(event, dict) and isinstance(event.get("response"), dict):
                    return event["response"]  # type: ignore[no-any-return]
        return None
