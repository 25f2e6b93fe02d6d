"""What a user key may ask about its own account: balance, spend and usage rows, also in the
OpenAI-legacy ``/dashboard/billing/*`` shapes that chat clients (ChatGPT-Next-Web and the
like) read to show a key's balance."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from airelay.billing import ledger
from airelay.billing.accounts import AccountView, account_view
from airelay.errors import GatewayError
from airelay.money import UNITS_PER_USD, units_to_usd
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE, AppState
from airelay.store import usage_queries
from airelay.store.snapshot import KeyRecord
from airelay.surfaces.admin.common import iso
from airelay.surfaces.admin.usage import day_range, time_range, usage_page
from airelay.surfaces.responses import json_response

UNITS_PER_CENT = UNITS_PER_USD // 100


def _caller(request: web.Request) -> tuple[AppState, KeyRecord]:
    state = request.app[STATE]
    record = authenticate(
        state.cache.current, extract_key(request.headers, request.query), remote=request.remote
    )
    return state, record


async def _account(state: AppState, record: KeyRecord) -> AccountView:
    try:
        return await account_view(state.engine, state.wallets, record.user_id)
    except ledger.UnknownUser as exc:  # the key outlived its user row
        raise GatewayError(401, "The account of this API key no longer exists.") from exc


async def balance(request: web.Request) -> web.StreamResponse:
    state, record = _caller(request)
    view = await _account(state, record)
    return json_response(
        {
            "balance": units_to_usd(view.balance),
            "currency": "USD",
            "total_spent": units_to_usd(view.total_spent),
            "last_updated": iso(view.updated_at),
        }
    )


async def billing_balance(request: web.Request) -> web.StreamResponse:
    state, record = _caller(request)
    view = await _account(state, record)
    return json_response({"balance": units_to_usd(view.balance)})


async def usage(request: web.Request) -> web.StreamResponse:
    """The key's user's own rows, paged and filtered like ``/v1/admin/usage``."""
    state, record = _caller(request)
    asked = request.query.get("user_id")
    if asked and asked != record.user_id:
        raise GatewayError(403, "This API key may read only its own account's usage.")
    return await usage_page(request, state, record.user_id)


async def dashboard_subscription(request: web.Request) -> web.StreamResponse:
    """The key's spending limit in USD. Clients show ``hard_limit_usd - total_usage / 100``
    as what is left: a key with a quota is limited by it; otherwise the limit is everything
    the user has had (balance plus all spend)."""
    state, record = _caller(request)
    if record.quota is not None:
        limit = units_to_usd(record.quota)
    else:
        view = await _account(state, record)
        limit = units_to_usd(view.balance + view.total_spent)
    return json_response(
        {
            "object": "billing_subscription",
            "has_payment_method": True,
            "soft_limit_usd": limit,
            "hard_limit_usd": limit,
            "system_hard_limit_usd": limit,
            "access_until": record.expires_at or 0,
        }
    )


async def dashboard_usage(request: web.Request) -> web.StreamResponse:
    """Spend in US cents between ``start_date`` and ``end_date`` (both days included; either
    may be left out): the key's own spend when it has a quota, else its user's."""
    state, record = _caller(request)
    start, end = time_range(request)
    async with state.engine.connect() as conn:
        if record.quota is not None:
            spent = await usage_queries.token_spend(conn, record.id, start, end)
        else:
            spent = await usage_queries.spend_between(conn, record.user_id, *day_range(start, end))
    return json_response({"object": "list", "total_usage": float(Decimal(spent) / UNITS_PER_CENT)})
