"""``/v1/admin/models``: the catalog of public model ids and their prices (USD in JSON,
exact integer units in the store)."""

from __future__ import annotations

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
from airelay.store import models as models_repo
from airelay.surfaces.admin.common import admin, decode, iso, require
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
        "reasoning": row["reasoning"],
        "created": row["created_at"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


@admin
async def list_models(request: web.Request, state: AppState) -> web.StreamResponse:
    rows = await models_repo.listed(state.engine)
    entries = [view(r) for r in rows]
    # ``data`` as OpenAI lists models; ``models`` as the other admin lists name their items.
    return json_response({"object": "list", "data": entries, "models": entries, "total": len(rows)})


@admin
async def create_model(request: web.Request, state: AppState) -> web.StreamResponse:
    values = new_model(await decode(request, ModelCreate))
    try:
        row = await models_repo.add(state.engine, values)
    except models_repo.Exists:
        raise GatewayError(409, f"model '{values['id']}' already exists") from None
    await state.cache.refresh()
    return json_response(view(row), status=201)


@admin
async def get_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    row = require(await models_repo.read(state.engine, model_id), "model", model_id)
    return json_response(view(row))


@admin
async def update_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    body = await decode(request, ModelPatch)
    values: dict[str, Any] = {}
    if body.owned_by is not UNSET:
        values["owned_by"] = body.owned_by
    if not isinstance(body.reasoning, msgspec.UnsetType):
        values["reasoning"] = body.reasoning
    if not isinstance(body.max_output_tokens, msgspec.UnsetType):
        check_max_output_tokens(body.max_output_tokens)
        values["max_output_tokens"] = body.max_output_tokens
    pricing = body.pricing if isinstance(body.pricing, dict) else None
    priced = pricing_units(pricing) if pricing is not None else {}

    def columns(current: dict[str, Any]) -> dict[str, Any]:
        if pricing is None:
            return values
        # A patch of pricing changes the prices it names; null removes one.
        merged = dict(current["pricing"])
        for name in [n for n, v in pricing.items() if v is None]:
            merged.pop(name, None)
        merged.update(priced)
        return {**values, "pricing": merged}

    try:
        row = await models_repo.change(state.engine, model_id, columns)
    except models_repo.NotFound:
        raise GatewayError(404, f"model '{model_id}' not found") from None
    await state.cache.refresh()
    return json_response(view(row))


@admin
async def delete_model(request: web.Request, state: AppState) -> web.StreamResponse:
    model_id = request.match_info["id"]
    try:
        await models_repo.remove(state.engine, model_id)
    except models_repo.NotFound:
        raise GatewayError(404, f"model '{model_id}' not found") from None
    await state.cache.refresh()
    return json_response({"id": model_id, "object": "model", "deleted": True})
