"""``/v1/admin/models``: the catalog of public model ids and their prices (USD in JSON,
exact integer units in the store)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from airelay.catalog import (
    UNSET,
    ModelCreate,
    ModelPatch,
    check_max_output_tokens,
    new_model,
    pricing_units,
)
from airelay.errors import GatewayError
from airelay.money import units_to_usd
from airelay.state import AppState
from airelay.store import crud, tables
from airelay.store import models as models_repo
from airelay.surfaces.admin.common import admin, config_changed, decode, iso, require
from airelay.surfaces.responses import json_response


def _usd(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: units_to_usd(v) for k, v in value.items()}
    return units_to_usd(value)


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
    entries = [view(r) for r in rows]
    # ``data`` as OpenAI lists models; ``models`` as the other admin lists name their items.
    return json_response({"object": "list", "data": entries, "models": entries, "total": len(rows)})


@admin
async def create_model(request: web.Request, state: AppState) -> web.StreamResponse:
    values = new_model(await decode(request, ModelCreate))
    async with state.engine.begin() as conn:
        if await crud.get(conn, tables.models, values["id"]) is not None:
            raise GatewayError(409, f"model '{values['id']}' already exists")
        row = await models_repo.create(
            conn,
            values["id"],
            values["owned_by"],
            values["pricing"],
            values["max_output_tokens"],
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
        check_max_output_tokens(body.max_output_tokens)
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
