"""``/v1/admin/redemptions``: batches of one-time codes. The codes are shown once, in the
answer to the POST that made them; afterwards only a hint of each. DELETE disables a code
(the record stays, ``status: disabled``)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from airelay.billing import redemptions
from airelay.catalog import Name, one_of
from airelay.errors import GatewayError
from airelay.money import units_to_usd, usd_to_units
from airelay.state import AppState
from airelay.store import redemptions as store
from airelay.store.db import now
from airelay.surfaces.admin.common import admin, decode, iso, paging, parse_iso
from airelay.surfaces.responses import json_response

BatchSize = Annotated[int, msgspec.Meta(ge=1, le=redemptions.MAX_BATCH)]


class BatchCreate(msgspec.Struct):
    amount: float | int | str
    count: BatchSize = 1
    expires_at: str | None = None
    name: Name = "default"


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "code_hint": row["code_hint"],
        "amount": units_to_usd(row["amount"]),
        "status": row["status"],
        "expires_at": iso(row["expires_at"]),
        "created_at": iso(row["created_at"]),
        "redeemed_by": row["redeemed_by"],
        "redeemed_at": iso(row["redeemed_at"]),
    }


@admin
async def create_batch(request: web.Request, state: AppState) -> web.StreamResponse:
    body = await decode(request, BatchCreate)
    try:
        amount = usd_to_units(body.amount)
    except ValueError as exc:
        raise GatewayError(400, f"amount: {exc}") from exc
    if amount <= 0:
        raise GatewayError(400, "'amount' must be positive")
    expires_at = None
    if body.expires_at is not None:
        expires_at = parse_iso(body.expires_at, "expires_at")
        if expires_at <= now():
            raise GatewayError(400, "'expires_at' must be in the future")
    issued = await redemptions.issue(
        state.engine, name=body.name, amount=amount, count=body.count, expires_at=expires_at
    )
    return json_response(
        {
            "name": body.name,
            "amount": units_to_usd(amount),
            "count": len(issued),
            "expires_at": iso(expires_at),
            "codes": [{"id": item.id, "code": item.code} for item in issued],
        },
        status=201,
    )


@admin
async def list_redemptions(request: web.Request, state: AppState) -> web.StreamResponse:
    page, limit = paging(request)
    status = request.query.get("status") or None
    if status is not None:
        one_of(status, store.STATUSES, "status")
    name = request.query.get("name") or None
    async with state.engine.connect() as conn:
        rows, total = await store.page(conn, page=page, limit=limit, status=status, name=name)
    return json_response(
        {"redemptions": [view(r) for r in rows], "total": total, "page": page, "limit": limit}
    )


@admin
async def disable_redemption(request: web.Request, state: AppState) -> web.StreamResponse:
    redemption_id = request.match_info["id"]
    try:
        async with state.engine.begin() as conn:
            row = await store.disable(conn, redemption_id)
    except store.NotFound:
        raise GatewayError(404, f"redemption code '{redemption_id}' not found") from None
    except store.NotRedeemable:
        raise GatewayError(409, "this code has been redeemed; it cannot be disabled") from None
    return json_response(view(row))
