"""``/console/api``: what a signed-in user does with their own account: keys (the secret
shown once), balance, usage rows and totals, redeeming a code, a Stripe top-up. Another
user's key is answered 404, as if it did not exist."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from airelay.catalog import Id
from airelay.errors import GatewayError
from airelay.security.keys import USER_KEY_PREFIX, generate_key, hash_key, mask
from airelay.state import AppState
from airelay.store import crud, tables
from airelay.store import tokens as tokens_repo
from airelay.surfaces.admin.common import decode, paging
from airelay.surfaces.admin.tokens import UNSET, TokenCreate, TokenPatch, token_columns, view
from airelay.surfaces.admin.usage import summary_page, usage_page
from airelay.surfaces.billing import checkout_for
from airelay.surfaces.console.session import Session, current, state_of
from airelay.surfaces.redeem import redeem_for
from airelay.surfaces.responses import json_response, read_json


async def _user(request: web.Request) -> tuple[AppState, str]:
    state = state_of(request)
    session: Session = await current(request, state)
    if session.user_id is None:
        raise GatewayError(403, "The management key has no account of its own.")
    return state, session.user_id


async def signed_in_user(request: web.Request) -> tuple[AppState, str]:
    """The state and the signed-in user's id; 403 for the management key's session."""
    return await _user(request)


async def _own_key(state: AppState, user_id: str, token_id: str) -> dict[str, Any]:
    async with state.engine.connect() as conn:
        row = await crud.get(conn, tables.tokens, token_id)
    if row is None or row["user_id"] != user_id:
        raise GatewayError(404, f"key '{token_id}' not found")
    return row


async def list_keys(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    page, limit = paging(request, default_limit=20)
    where = tables.tokens.c.user_id == user_id
    async with state.engine.connect() as conn:
        rows, total = await crud.page(conn, tables.tokens, page=page, limit=limit, where=where)
    return json_response(
        {"tokens": [view(r) for r in rows], "total": total, "page": page, "limit": limit}
    )


async def create_key(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise GatewayError(400, "request body must be a JSON object")
    try:
        body = msgspec.convert({**raw, "user_id": user_id}, TokenCreate)
    except msgspec.ValidationError as exc:
        raise GatewayError(400, f"invalid request body: {exc}") from exc
    columns = token_columns(msgspec.structs.asdict(body))
    columns.pop("user_id")
    key = generate_key(USER_KEY_PREFIX)
    columns.update(key_hash=hash_key(key), key_hint=mask(key))
    try:
        async with state.engine.begin() as conn:
            row = await tokens_repo.create_for_user(conn, user_id, columns)
    except tokens_repo.NotFound:
        raise GatewayError(401, "Not signed in.") from None
    await state.cache.refresh()
    return json_response({**view(row), "key": key}, status=201)


async def update_key(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    token_id: Id = request.match_info["id"]
    await _own_key(state, user_id, token_id)
    body = await decode(request, TokenPatch)
    values = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    try:
        async with state.engine.begin() as conn:
            row = await tokens_repo.update(conn, token_id, token_columns(values))
    except tokens_repo.Revoked:
        raise GatewayError(409, "a revoked key cannot be changed") from None
    await state.cache.refresh()
    return json_response(view(row))


async def revoke_key(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    token_id = request.match_info["id"]
    await _own_key(state, user_id, token_id)
    async with state.engine.begin() as conn:
        row = await tokens_repo.revoke(conn, token_id)
    await state.cache.refresh()
    return json_response(view(row))


async def usage(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    return await usage_page(request, state, user_id)


async def usage_summary(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    return await summary_page(request, state, user_id)


async def redeem(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    return json_response(await redeem_for(state, user_id, await read_json(request)))


async def checkout(request: web.Request) -> web.StreamResponse:
    state, user_id = await _user(request)
    return await checkout_for(request, state, user_id)
