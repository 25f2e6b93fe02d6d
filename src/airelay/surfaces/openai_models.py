"""``GET /v1/models`` and ``GET /v1/models/{id}`` in OpenAI's shape: only the models the
calling key may use (routed, priced, and on its allow-list)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE
from airelay.store.snapshot import KeyRecord, Snapshot

MODEL_CREATED = 1700000000


def usable_models(snapshot: Snapshot, record: KeyRecord) -> list[str]:
    names = [name for name in sorted(snapshot.routes) if name in snapshot.prices]
    if record.models is not None:
        names = [name for name in names if name in record.models]
    return names


def model_entry(snapshot: Snapshot, name: str) -> dict[str, Any]:
    entry = snapshot.catalog.get(name)
    if entry is not None:
        return {
            "id": name,
            "object": "model",
            "created": entry["created_at"],
            "owned_by": entry["owned_by"],
        }
    owner = name.partition("/")[0] if "/" in name else "airelay"
    return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": owner}


async def list_models(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(snapshot, extract_key(request.headers, request.query))
    data = [model_entry(snapshot, name) for name in usable_models(snapshot, record)]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def retrieve_model(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(snapshot, extract_key(request.headers, request.query))
    name = request.match_info["model"]
    if name not in usable_models(snapshot, record):
        raise GatewayError(404, f"The model '{name}' does not exist.")
    return web.Response(
        body=orjson.dumps(model_entry(snapshot, name)), content_type="application/json"
    )
