"""``POST /v1/redeem``: a user key redeems a one-time code for its own account
(``{code}`` → ``{success, amount, new_balance}``). The console's session-authenticated
redeem answers through ``redeem_for`` too."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from airelay.billing import ledger, redemptions
from airelay.billing.accounts import account_view
from airelay.errors import GatewayError
from airelay.money import units_to_usd
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE, AppState
from airelay.surfaces.responses import json_response, read_json

_REFUSALS = {
    "redeemed": "This redemption code has already been redeemed.",
    "disabled": "This redemption code has been disabled.",
    "expired": "This redemption code has expired.",
}


async def redeem(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    record = authenticate(
        state.cache.current, extract_key(request.headers, request.query), remote=request.remote
    )
    body = await read_json(request)
    return json_response(await redeem_for(state, record.user_id, body))


async def redeem_for(state: AppState, user_id: str, body: Any) -> dict[str, Any]:
    """Redeem ``body["code"]`` for ``user_id``; a refusal is a 400 that says why."""
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code.strip():
        raise GatewayError(400, 'request body must be a JSON object like {"code": "rc-..."}')
    try:
        redeemed = await redemptions.redeem(state.engine, code, user_id)
    except redemptions.NotFound:
        raise GatewayError(400, "This redemption code is not valid.") from None
    except redemptions.NotRedeemable as exc:
        raise GatewayError(400, _REFUSALS[exc.reason]) from None
    except ledger.UnknownUser:
        raise GatewayError(401, "The account of this API key no longer exists.") from None
    view = await account_view(state.engine, state.wallets, user_id)
    return {
        "success": True,
        "amount": units_to_usd(redeemed.amount),
        "new_balance": units_to_usd(view.balance),
        "transaction_id": redeemed.transaction_id,
    }
