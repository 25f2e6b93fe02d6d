"""``/v1/admin/channels``: upstreams, their keys (encrypted, shown masked), models, routing.
The channel test (``.../{id}/test``) is ``channel_test.test_channel``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from airelay.catalog import (
    ChannelCreate,
    ChannelPatch,
    channel_changes,
    check_type_fit,
    effective_endpoints,
    new_channel,
    sealed,
)
from airelay.errors import GatewayError
from airelay.security.keys import mask
from airelay.state import AppState
from airelay.store import channels as channels_repo
from airelay.store.snapshot import channel_models
from airelay.surfaces.admin.channel_health import health_view
from airelay.surfaces.admin.channel_test import test_channel
from airelay.surfaces.admin.common import admin, decode, iso, require
from airelay.surfaces.responses import json_response
from airelay.transport.options import mask_proxy


def view(row: dict[str, Any], state: AppState) -> dict[str, Any]:
    """A channel as the API shows it: keys masked, never in the clear."""
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "base_url": row["base_url"],
        "api_keys": [_masked(state, token) for token in row["api_keys"]],
        "models": channel_models(row),
        "model_mapping": row["model_mapping"],
        "priority": row["priority"],
        "weight": row["weight"],
        "status": row["status"],
        "timeout": row["timeout"],
        "endpoints": effective_endpoints(row["type"], row["endpoints"]),
        "proxy": _masked_proxy(state, row["proxy"]) if row.get("proxy") else None,
        "tls": _tls_view(row["tls"]) if row.get("tls") is not None else None,
        "anthropic_betas": row.get("anthropic_betas"),
        "rpm": row.get("rpm"),
        "tpm": row.get("tpm"),
        "max_concurrency": row.get("max_concurrency"),
        "cost_multiplier": row.get("cost_multiplier"),
        "health": health_view(state, row),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _masked(state: AppState, token: str) -> str:
    try:
        return mask(state.box.decrypt(token))
    except ValueError:
        return "[undecryptable]"


def _masked_proxy(state: AppState, token: str) -> str:
    try:
        return mask_proxy(state.box.decrypt(token))
    except ValueError:
        return "[undecryptable]"


def _tls_view(document: dict[str, Any]) -> dict[str, Any]:
    shown = dict(document)
    if shown.get("client_key") is not None:
        shown["client_key"] = "[set]"
    return shown


@admin
async def list_channels(request: web.Request, state: AppState) -> web.StreamResponse:
    rows = await channels_repo.listed(state.engine)
    return json_response({"channels": [view(row, state) for row in rows], "total": len(rows)})


@admin
async def create_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    values = sealed(new_channel(await decode(request, ChannelCreate)), state.box.encrypt)
    row = await channels_repo.add(state.engine, values)
    await state.cache.refresh()
    return json_response(view(row, state), status=201)


@admin
async def get_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    row = require(await channels_repo.read(state.engine, channel_id), "channel", channel_id)
    return json_response(view(row, state))


@admin
async def update_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    values = channel_changes(await decode(request, ChannelPatch))

    def columns(current: dict[str, Any]) -> dict[str, Any]:
        _check_patched(state, current, values)
        return sealed(values, state.box.encrypt)

    try:
        row = await channels_repo.change(state.engine, channel_id, columns)
    except channels_repo.NotFound:
        raise GatewayError(404, f"channel '{channel_id}' not found") from None
    await state.cache.refresh()
    return json_response(view(row, state))


def _check_patched(state: AppState, current: dict[str, Any], values: dict[str, Any]) -> None:
    """The rules that hold for the whole channel as the patch leaves it: its endpoints,
    keys, base URL and beta rules against its type (the stored keys are checked again when the type
    changes)."""
    channel_type = values.get("type", current["type"])
    endpoints = values["endpoints"] if "endpoints" in values else current["endpoints"]
    betas = values.get("anthropic_betas", current.get("anthropic_betas"))
    base_url = values.get("base_url", current["base_url"])
    if "api_keys" in values:
        keys = values["api_keys"]
    elif channel_type != current["type"]:
        keys = []
        for token in current["api_keys"]:
            try:
                keys.append(state.box.decrypt(token))
            except ValueError:
                continue  # undecryptable: the snapshot skips the channel anyway
    else:
        keys = []
    check_type_fit(channel_type, endpoints, keys, betas, base_url)


@admin
async def delete_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    try:
        await channels_repo.remove(state.engine, channel_id)
    except channels_repo.NotFound:
        raise GatewayError(404, f"channel '{channel_id}' not found") from None
    await state.cache.refresh()
    return json_response({"id": channel_id, "deleted": True})


__all__ = [
    "create_channel",
    "delete_channel",
    "get_channel",
    "list_channels",
    "test_channel",
    "update_channel",
    "view",
]
