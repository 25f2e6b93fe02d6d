"""``POST /v1/admin/topup``: credit a user's balance, once per ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from airelay.billing import ledger
from airelay.errors import GatewayError
from airelay.money import units_to_usd, usd_to_units
from airelay.state import AppState
from airelay.surfaces.admin.common import admin, decode, iso
from airelay.surfaces.responses import json_response

MAX_IDEMPOTENCY_KEY = 150
#: The operator's note, kept as the ledger entry's description.
Note = Annotated[str, msgspec.Meta(max_length=500)]


class TopupRequest(msgspec.Struct):
    user_id: str
    amount: float | int | str
    payment_method: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    description: Note | None = None


@admin
async def topup(request: web.Request, state: AppState) -> web.StreamResponse:
    body = await decode(request, TopupRequest)
    try:
        amount = usd_to_units(body.amount)
    except ValueError as exc:
        raise GatewayError(400, f"amount: {exc}") from exc
    if amount <= 0:
        raise GatewayError(400, "'amount' must be positive")
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise GatewayError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    reference = f"topup:{idempotency_key}" if idempotency_key else None
    description = body.description or (
        f"top-up ({body.payment_method})" if body.payment_method else "top-up"
    )
    try:
        row, created = await ledger.credit(
            state.engine,
            user_id=body.user_id,
            amount=amount,
            kind="topup",
            reference=reference,
            description=description,
        )
    except ledger.UnknownUser as exc:
        raise GatewayError(404, f"user '{body.user_id}' not found") from exc
    if not created and (row["user_id"] != body.user_id or row["amount"] != amount):
        raise GatewayError(
            409, "this Idempotency-Key was used for a different top-up; use a new key"
        )
    response = json_response(
        {
            "success": True,
            "transaction_id": row["id"],
            "user_id": row["user_id"],
            "amount": units_to_usd(row["amount"]),
            "new_balance": units_to_usd(row["balance_after"]),
            "timestamp": iso(row["created_at"]),
        }
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response
