"""``/v1/admin/tokens``: user API keys. The secret is shown once, on create; DELETE revokes
(the record stays, ``status: revoked``)."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import msgspec
from aiohttp import web

from airelay.catalog import Id, Int32, Name, Short, one_of
from airelay.errors import GatewayError
from airelay.money import units_to_usd, usd_to_units
from airelay.security.keys import USER_KEY_PREFIX, generate_key, hash_key, mask
from airelay.state import AppState
from airelay.store import crud, tables
from airelay.store import tokens as tokens_repo
from airelay.store.quota_window import PERIODS, used_in_window, window_end, window_start
from airelay.surfaces.admin.common import (
    admin,
    decode,
    iso,
    paging,
    parse_iso,
    require,
)
from airelay.surfaces.responses import json_response

PERMISSIONS = ("chat", "embeddings", "images", "audio", "video", "rerank")
STATUSES = ("active", "disabled")
UNSET: Any = msgspec.UNSET
Money = float | int | str


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
    name: Name = "default"
    permissions: list[str] = msgspec.field(default_factory=lambda: list(PERMISSIONS))
    models: list[str] | None = None
    expires_at: str | None = None
    quota: Money | None = None
    quota_period: str | None = None
    rpm: Int32 | None = None
    tpm: Int32 | None = None
    max_concurrency: Int32 | None = None
    ip_allowlist: list[str] | None = None


class TokenPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = UNSET
    permissions: list[str] | msgspec.UnsetType = UNSET
    models: list[str] | msgspec.UnsetType | None = UNSET
    expires_at: str | msgspec.UnsetType | None = UNSET
    quota: Money | msgspec.UnsetType | None = UNSET
    quota_period: str | msgspec.UnsetType | None = UNSET
    rpm: Int32 | msgspec.UnsetType | None = UNSET
    tpm: Int32 | msgspec.UnsetType | None = UNSET
    max_concurrency: Int32 | msgspec.UnsetType | None = UNSET
    ip_allowlist: list[str] | msgspec.UnsetType | None = UNSET
    status: Short | msgspec.UnsetType = UNSET


def view(row: dict[str, Any]) -> dict[str, Any]:
    """A key as the API shows it: ``quota_used`` is its spend in the current window of
    ``quota_period`` (its whole spend without one), ``quota_resets_at`` when that window
    ends (null: never), as written by the billing flush (calls of the last moments follow
    within a fraction of a second)."""
    period = row.get("quota_period")
    window = window_start(period, time.time())
    quota_used = used_in_window(
        period, row["used"], row.get("period_used") or 0, row.get("period_start"), window
    )
    return {
        "id": row["id"],
        "name": row["name"],
        "user_id": row["user_id"],
        "key_hint": row["key_hint"],
        "permissions": row["permissions"],
        "models": row["models"],
        "expires_at": iso(row["expires_at"]),
        "quota": units_to_usd(row["quota"]) if row["quota"] is not None else None,
        "used": units_to_usd(row["used"]),
        "quota_period": period,
        "quota_used": units_to_usd(quota_used),
        "quota_resets_at": iso(window_end(period, window)),
        "rpm": row["rpm"],
        "tpm": row["tpm"],
        "max_concurrency": row["max_concurrency"],
        "ip_allowlist": row["ip_allowlist"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "last_used": iso(row["last_used_at"]),
    }


def token_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Validated API fields as table columns."""
    columns = dict(values)
    for permission in values.get("permissions", ()):
        one_of(permission, PERMISSIONS, "permissions")
    if "status" in values:
        one_of(values["status"], STATUSES, "status")
    if values.get("expires_at") is not None:
        columns["expires_at"] = parse_iso(values["expires_at"], "expires_at")
    if values.get("quota") is not None:
        try:
            columns["quota"] = usd_to_units(values["quota"])
        except ValueError as exc:
            raise GatewayError(400, f"quota: {exc}") from exc
        if columns["quota"] < 0:
            raise GatewayError(400, "'quota' must not be negative")
    if values.get("quota_period") is not None:
        one_of(values["quota_period"], PERIODS, "quota_period")
    for field in ("rpm", "tpm"):
        if values.get(field) is not None and values[field] < 0:
            raise GatewayError(400, f"'{field}' must not be negative")
    for entry in values.get("ip_allowlist") or ():
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise GatewayError(400, f"'ip_allowlist': {entry!r} is no address or network") from exc
    return columns


@admin
async def list_tokens(request: web.Request, state: AppState) -> web.StreamResponse:
    page, limit = paging(request)
    user_id = request.query.get("user_id")
    where = tables.tokens.c.user_id == user_id if user_id else None
    async with state.engine.connect() as conn:
        rows, total = await crud.page(conn, tables.tokens, page=page, limit=limit, where=where)
    return json_response(
        {"tokens": [view(r) for r in rows], "total": total, "page": page, "limit": limit}
    )


@admin
async def create_token(request: web.Request, state: AppState) -> web.StreamResponse:
    body = await decode(request, TokenCreate)
    columns = token_columns(msgspec.structs.asdict(body))
    key = generate_key(USER_KEY_PREFIX)
    columns.update(key_hash=hash_key(key), key_hint=mask(key))
    columns.pop("user_id")
    try:
        async with state.engine.begin() as conn:
            row = await tokens_repo.create_for_user(conn, body.user_id, columns)
    except tokens_repo.NotFound:
        raise GatewayError(404, f"user '{body.user_id}' not found") from None
    await state.cache.refresh()
    return json_response({**view(row), "key": key}, status=201)


@admin
async def get_token(request: web.Request, state: AppState) -> web.StreamResponse:
    token_id = request.match_info["id"]
    async with state.engine.connect() as conn:
        row = require(await crud.get(conn, tables.tokens, token_id), "token", token_id)
    return json_response(view(row))


@admin
async def update_token(request: web.Request, state: AppState) -> web.StreamResponse:
    token_id = request.match_info["id"]
    body = await decode(request, TokenPatch)
    columns = token_columns(
        {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    )
    try:
        async with state.engine.begin() as conn:
            row = await tokens_repo.update(conn, token_id, columns)
    except tokens_repo.NotFound:
        raise GatewayError(404, f"token '{token_id}' not found") from None
    except tokens_repo.Revoked:
        raise GatewayError(409, "a revoked token cannot be changed") from None
    await state.cache.refresh()
    return json_response(view(row))


@admin
async def revoke_token(request: web.Request, state: AppState) -> web.StreamResponse:
    token_id = request.match_info["id"]
    try:
        async with state.engine.begin() as conn:
            row = await tokens_repo.revoke(conn, token_id)
    except tokens_repo.NotFound:
        raise GatewayError(404, f"token '{token_id}' not found") from None
    await state.cache.refresh()
    return json_response(view(row))
