"""Model lists: only the models the calling key may use (routed, priced, on its allow-list).

``GET /v1/models`` answers in OpenAI's shape, or Anthropic's for a caller that sends
``anthropic-version``; ``GET /v1beta/models`` answers in Gemini's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.pricing import DEFAULT_MAX_OUTPUT_TOKENS
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE
from airelay.store.snapshot import KeyRecord, Snapshot

MODEL_CREATED = 1700000000


def _json(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


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
    if "anthropic-version" in request.headers:
        return _anthropic_list(request)
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    data = [model_entry(snapshot, name) for name in usable_models(snapshot, record)]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def retrieve_model(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    name = request.match_info["model"]
    if name not in usable_models(snapshot, record):
        raise GatewayError(404, f"The model '{name}' does not exist.")
    return web.Response(
        body=orjson.dumps(model_entry(snapshot, name)), content_type="application/json"
    )


def _anthropic_list(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    data = []
    for name in usable_models(snapshot, record):
        entry = model_entry(snapshot, name)
        data.append(
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": datetime.fromtimestamp(entry["created"], UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            }
        )
    return _json(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


INPUT_TOKEN_LIMIT = 1_048_576


def _model(snapshot: Snapshot, name: str) -> dict[str, Any]:
    price = snapshot.prices.get(name)
    return {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": "001",
        "displayName": name,
        "description": f"{name} through airelay",
        "inputTokenLimit": INPUT_TOKEN_LIMIT,
        "outputTokenLimit": price.max_output_tokens if price else DEFAULT_MAX_OUTPUT_TOKENS,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


async def gemini_list_models(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    return _json({"models": [_model(snapshot, n) for n in usable_models(snapshot, record)]})


async def gemini_get_model(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    name = request.match_info["target"].removeprefix("models/")
    if name not in usable_models(snapshot, record):
        raise GatewayError(404, f"models/{name} is not found.")
    return _json(_model(snapshot, name))
