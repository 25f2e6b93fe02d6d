"""``GET /console/api/models``: the model catalogue as the signed-in user sees it: the models
their keys may call, the endpoints each serves, and the prices they pay.

Prices are those of ``/v1/admin/models`` (USD; token prices per 1M tokens, ``per_image``
per image or a table by size, ``per_video_second`` per second, ``per_million_characters``
per 1M characters, ``per_audio_minute`` per minute, ``per_request`` per call) times the
user's group multiplier. Each price is rounded up to a unit after the multiplier, as a call
is: a shown price is at most one unit (1e-10 USD) above the exact product, and a call still
rounds only once, over its sum. A model priced by input tokens also shows the cache prices
its calls pay when the catalog sets none (``airelay.pricing.Price``: a read at the input
price, a 5-minute write at x 1.25, a 1-hour write at x 2).

Which models: those any of the user's usable keys (active, unexpired) may call. A user with
no usable key sees what a new key with every permission and no model allow-list would call
(``basis: "account"`` rather than ``"keys"``), so the catalogue is readable before the
first key is made.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from aiohttp import web

from airelay.errors import GatewayError
from airelay.money import units_to_usd
from airelay.pricing import Price
from airelay.store import accounts
from airelay.store.snapshot import KeyRecord, Snapshot
from airelay.surfaces.admin.tokens import PERMISSIONS
from airelay.surfaces.console.own import signed_in_user
from airelay.surfaces.model_lists import endpoints_for
from airelay.surfaces.responses import json_response

# Filled in from ``Price`` when the catalog prices input tokens but not these.
_CACHE_PRICES = ("cached_input", "cache_write_5m", "cache_write_1h")


def user_units(units: int, multiplier: Fraction | None) -> int:
    """A list price in units as a user of the group pays it: times the multiplier, rounded
    up to a unit (the direction a call's one rounding goes)."""
    if multiplier is None or multiplier == 1:
        return units
    return -(-units * multiplier.numerator // multiplier.denominator)


def _usd(value: int | dict[str, int], multiplier: Fraction | None) -> float | dict[str, float]:
    if isinstance(value, dict):
        return {key: units_to_usd(user_units(v, multiplier)) for key, v in value.items()}
    return units_to_usd(user_units(value, multiplier))


def user_pricing(
    pricing: dict[str, Any], price: Price, multiplier: Fraction | None
) -> dict[str, Any]:
    """The catalog's prices (units) as this user pays them, in USD, with the cache prices
    a call pays by default made explicit."""
    effective: dict[str, Any] = dict(pricing)
    if "input" in pricing:
        defaults = {
            "cached_input": price.read,
            "cache_write_5m": price.write_5m,
            "cache_write_1h": price.write_1h,
        }
        for name in _CACHE_PRICES:
            effective.setdefault(name, defaults[name])
    return {name: _usd(units, multiplier) for name, units in effective.items()}


def _usable(record: KeyRecord, user_id: str, now: float) -> bool:
    return (
        record.user_id == user_id
        and record.status == "active"
        and (record.expires_at is None or record.expires_at > now)
    )


def reachable(snapshot: Snapshot, user_id: str, now: float) -> tuple[dict[str, list[str]], str]:
    """Model -> endpoints over the user's usable keys, and the basis (``keys`` or, with no
    usable key, ``account``)."""
    records = [r for r in snapshot.keys.values() if _usable(r, user_id, now)]
    if not records:
        return endpoints_for(snapshot, frozenset(PERMISSIONS), None), "account"
    found: dict[str, list[str]] = {}
    for record in records:
        for name, endpoints in endpoints_for(snapshot, record.permissions, record.models).items():
            served = found.setdefault(name, [])
            served.extend(e for e in endpoints if e not in served)
    return dict(sorted(found.items())), "keys"


async def models(request: web.Request) -> web.StreamResponse:
    state, user_id = await signed_in_user(request)
    async with state.engine.connect() as conn:
        row = await accounts.account_row(conn, user_id)
    if row is None:
        raise GatewayError(401, "Not signed in.")
    snapshot = state.cache.current
    multiplier = snapshot.group_multipliers.get(row["group"])
    found, basis = reachable(snapshot, user_id, time.time())
    entries = []
    for name, endpoints in found.items():
        entry = snapshot.catalog.get(name) or {}
        price = snapshot.prices[name]
        entries.append(
            {
                "id": name,
                "owned_by": entry.get("owned_by"),
                "endpoints": endpoints,
                "pricing": user_pricing(entry.get("pricing") or {}, price, multiplier),
                "max_output_tokens": price.max_output_tokens,
            }
        )
    return json_response(
        {
            "object": "list",
            "models": entries,
            "total": len(entries),
            "basis": basis,
            "group": row["group"],
            # Display only; the prices above already include it.
            "multiplier": float(multiplier) if multiplier is not None else 1.0,
        }
    )
