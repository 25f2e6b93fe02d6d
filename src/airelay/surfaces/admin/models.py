"""``/v1/admin/models``: the catalog of public model ids and their prices (USD in JSON,
exact integer units in the store)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from airelay.billing.pricing import PER_MILLION
from airelay.errors import GatewayError
from airelay.money import units_to_usd, usd_to_units
from airelay.state import AppState
from airelay.store import crud, tables
from airelay.store import models as models_repo
from airelay.surfaces.admin.common import (
    Int32,
    Label,
    Name,
    admin,
    config_changed,
    decode,
    iso,
    require,
)
from airelay.surfaces.responses import json_response

PRICE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "per_request",
    "per_image",
    "per_video_second",
    "per_million_characters",
    "per_audio_minute",
)
UNSET: Any = msgspec.UNSET


TOKEN_PRICES = ("input", "output", "cached_input")


class ModelCreate(msgspec.Struct):
    id: Name
    owned_by: Label = "airelay"
    pricing: dict[str, Any] = msgspec.field(default_factory=dict)
    max_output_tokens: Int32 | None = None


class ModelPatch(msgspec.Struct):
    owned_by: Label | msgspec.UnsetType = UNSET
    pricing: dict[str, Any] | msgspec.UnsetType = UNSET
    max_output_tokens: Int32 | msgspec.UnsetType | None = UNSET


def _units(name: str, value: object) -> int:
    try:
        amount = usd_to_units(value)
    except ValueError as exc:
        raise GatewayError(400, f"pricing.{name}: {exc}") from exc
    if amount < 0:
        raise GatewayError(400, f"pricing.{name} must not be negative")
    if name in TOKEN_PRICES and amount % PER_MILLION:
        raise GatewayError(
            400, f"pricing.{name}: a price per 1M tokens has at most 4 decimals (USD)"
        )
    return amount


def pricing_units(pricing: dict[str, Any]) -> dict[str, Any]:
    """USD prices from the API as exact units; unknown fields and bad numbers are a 400.

    ``per_image`` is one price, or prices by ``size`` or ``size/quality``
    (``{"1024x1024": 0.04, "1024x1024/hd": 0.08}``).
    """
    units: dict[str, Any] = {}
    for name, value in pricing.items():
        if name not in PRICE_FIELDS:
            raise GatewayError(400, f"unknown price '{name}'; known: {', '.join(PRICE_FIELDS)}")
        if value is None:
            continue
        if name == "per_image" and isinstance(value, dict):
            units[name] = {str(k): _units(f"per_image.{k}", v) for k, v in value.items()}
        else:
            units[name] = _units(name, value)
    return units


def _usd(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: units_to_usd(v) for k, v in value.items()}
    return units_to_usd(value)


def _check_cap(value: int | None) -> None:
    if value is not None and value < 1:
        raise GatewayError(400, "'max_output_tokens' must be 1 or more")


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "model",
        "owned_by": row["owned_by"],
        "pricing": {name: _usd(units) for name, units in row["pricing"].items()},
        "priced": bool(row["pricing"]),
        "max_output_tokens": row["max_output_tokens"],
        "created": row["created_at"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


@admin
async def list_models(request: web.Request, state: AppState) -> web.StreamResponse:
    async with state.engine.connect() as conn:
        rows = await crud.all_rows(conn, tables.models)
    return json_response({"object": "list", "data": [view(r) for r in rows], "total": len(rows)})


@admin
async def create_model(request: web.Request, state: AppState) -> web.StreamResponse:
    body = await decode(request, ModelCreate)
    if not body.id.strip():
        raise GatewayError(400, "'id' must not be empty")
    pricing = pricing_units(body.pricing)
    _check_cap(body.max_output_tokens)
    async with state.engine.begin() as conn:
        if await crud.get(conn, tables.models, body.id) is not None:
            raise GatewayError(409, f"model '{body.id}' already exists")
        row = await models_repo.create(
            conn, body.id, body.owned_by, pricing, body.max_output_tokens
        )
        await config_changed(conn)
    await state.cache.reload()
    return json_response(view(row), status=201)


@admin
async def get_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    async with state.engine.connect() as conn:
        row = require(await crud.get(conn, tables.models, model_id), "model", model_id)
    return json_response(view(row))


@admin
async def update_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    body = await decode(request, ModelPatch)
    values: dict[str, Any] = {"updated_at": int(time.time())}
    if body.owned_by is not UNSET:
        values["owned_by"] = body.owned_by
    if not isinstance(body.max_output_tokens, msgspec.UnsetType):
        _check_cap(body.max_output_tokens)
        values["max_output_tokens"] = body.max_output_tokens
    async with state.engine.begin() as conn:
        row = require(await crud.get(conn, tables.models, model_id), "model", model_id)
        if isinstance(body.pricing, dict):
            # A patch of pricing changes the prices it names; null removes one.
            merged = dict(row["pricing"])
            for name in [n for n, v in body.pricing.items() if v is None]:
                merged.pop(name, None)
            merged.update(pricing_units(body.pricing))
            values["pricing"] = merged
        row = await crud.update(conn, tables.models, model_id, values)
        await config_changed(conn)
    await state.cache.reload()
    return json_response(view(row))


@admin
async def delete_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    async with state.engine.begin() as conn:
        if not await crud.delete(conn, tables.models, model_id):
            raise GatewayError(404, f"model '{model_id}' not found")
        await config_changed(conn)
    await state.cache.reload()
    return json_response({"id": model_id, "object": "model", "deleted": True})
