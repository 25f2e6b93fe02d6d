"""Stored Responses API answers: ``GET`` and ``DELETE /v1/responses/{id}``, ``GET
/v1/responses/{id}/input_items``, and the two calls ``POST /v1/responses`` makes around its
relay call: ``previous_items`` (the conversation a ``previous_response_id`` continues) and
``remember`` (keep the answer when the request's ``store`` is not false).

Responses are per user: any key of the user that created one reads it, another user's id
answers exactly as an unknown one (404), and so does an expired one. The routes take the
key like every OpenAI route and need the ``chat`` permission, the one that creates them.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import responses_history
from airelay.formats.responses_history import DEFAULT_LIMIT, MAX_LIMIT, Item, Order
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.state import STATE, AppState
from airelay.store.responses import MAX_ID, MAX_MODEL, BrokenChain, StoredResponse
from airelay.surfaces.responses import json_response

DAY_SECONDS = 86400
PERMISSION = "chat"


def _caller(request: web.Request) -> tuple[AppState, str]:
    """The app state and the key's user, or 401/403."""
    state = request.app[STATE]
    record = authenticate(
        state.cache.current, extract_key(request.headers, request.query), remote=request.remote
    )
    authorize(record, permission=PERMISSION, model=None, remote=request.remote)
    return state, record.user_id


def _not_found(response_id: str) -> GatewayError:
    shown = response_id if len(response_id) <= MAX_ID else response_id[:MAX_ID] + "..."
    return GatewayError(
        404, f"Response with id '{shown}' not found.", type_="invalid_request_error"
    )


async def _find(request: web.Request) -> tuple[AppState, str, StoredResponse]:
    state, user_id = _caller(request)
    response_id = request.match_info["id"]
    stored = None
    if len(response_id) <= MAX_ID:
        stored = await state.responses.find(user_id, response_id, int(time.time()))
    if stored is None:
        raise _not_found(response_id)
    return state, user_id, stored


async def get_response(request: web.Request) -> web.StreamResponse:
    """The response object as it was answered. ``stream=true`` (a replay of its events) is
    refused: the stored object is whole; ``include`` is read as what the creating request
    included, already in the object."""
    if request.query.get("stream", "false").lower() not in ("false", "0", ""):
        raise GatewayError(400, "Replaying a stored response as a stream is not supported.")
    if "starting_after" in request.query:
        raise GatewayError(400, "'starting_after' applies to streamed replays only.")
    _state, _user_id, stored = await _find(request)
    return json_response(stored.body)


async def delete_response(request: web.Request) -> web.StreamResponse:
    state, user_id = _caller(request)
    response_id = request.match_info["id"]
    if len(response_id) > MAX_ID or not await state.responses.delete(
        user_id, response_id, int(time.time())
    ):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise GatewayError(400, f"'limit' must be an integer from 1 to {MAX_LIMIT}.")
    return limit


def _order(request: web.Request) -> Order:
    order = request.query.get("order") or "desc"
    if order == "asc":
        return "asc"
    if order == "desc":
        return "desc"
    raise GatewayError(400, "'order' must be 'asc' or 'desc'.")


async def list_input_items(request: web.Request) -> web.StreamResponse:
    """The input items of a stored response (the request's own input, not those of the
    responses it continued), paged as OpenAI's lists are."""
    limit, order = _limit(request), _order(request)
    after = request.query.get("after") or None
    if "before" in request.query:
        raise GatewayError(400, "'before' is not supported; page with 'after' and 'order'.")
    _state, _user_id, stored = await _find(request)
    listed = responses_history.listed_items(stored.id, stored.input_items)
    try:
        page = responses_history.page(listed, after=after, limit=limit, order=order)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    return json_response(page)


# -- for POST /v1/responses ------------------------------------------------------------


async def previous_items(state: AppState, user_id: str, previous_response_id: object) -> list[Item]:
    """The items a request naming ``previous_response_id`` continues: every earlier
    response's input then output items, oldest first (the new request's own input goes
    after them; its ``instructions`` apply, the earlier ones' do not).

    400, as OpenAI answers, for an id that is not a string, unknown, another user's,
    deleted or expired, or whose conversation lost an earlier response."""
    if not isinstance(previous_response_id, str) or not previous_response_id:
        raise GatewayError(400, "'previous_response_id' must be a non-empty string.")
    now = int(time.time())
    missing = GatewayError(400, f"Previous response with id '{previous_response_id}' not found.")
    if len(previous_response_id) > MAX_ID:
        raise missing
    try:
        chain = await state.responses.chain(user_id, previous_response_id, now)
    except BrokenChain as broken:
        raise GatewayError(
            400,
            f"Previous response with id '{previous_response_id}' cannot be continued: "
            f"the earlier response '{broken.missing}' of its conversation was deleted or "
            "has expired.",
        ) from None
    if not chain:
        raise missing
    return responses_history.expand([stored.turn() for stored in reversed(chain)], None)


async def remember(
    state: AppState,
    *,
    user_id: str,
    token_id: str | None,
    request_payload: dict[str, Any],
    response_object: dict[str, Any],
) -> bool:
    """Keep ``response_object`` (the whole response as answered, its ``id`` the gateway's)
    for its user unless the request said ``"store": false`` (OpenAI stores by default).
    Queued, not awaited on the database: call it once the answer is complete; a GET or a
    continuation right after finds it. Whether it was kept.

    ``request_payload`` is the request as the client sent it (its own ``input``, not the
    expanded conversation); ValueError for an ``input`` or an ``id`` that the handler
    should have refused already. Both are kept as they are, not copied (serialised when
    written): the caller must not change them afterwards."""
    if request_payload.get("store") is False:
        return False
    response_id = response_object.get("id")
    if not isinstance(response_id, str) or not 0 < len(response_id) <= MAX_ID:
        raise ValueError("the response object needs a string 'id' of at most 64 characters")
    previous = request_payload.get("previous_response_id")
    created = response_object.get("created_at")
    created_at = int(created) if isinstance(created, int | float) else int(time.time())
    model = str(response_object.get("model") or request_payload.get("model") or "")
    state.responses.add(
        StoredResponse(
            id=response_id,
            user_id=user_id,
            token_id=token_id,
            model=model[:MAX_MODEL],
            previous_response_id=(
                previous if isinstance(previous, str) and 0 < len(previous) <= MAX_ID else None
            ),
            input_items=responses_history.input_items(request_payload.get("input")),
            body=response_object,
            created_at=created_at,
            # From now, not from ``created_at``: an upstream's clock does not shorten it.
            expires_at=int(time.time()) + state.settings.responses_retention_days * DAY_SECONDS,
        )
    )
    return True
