"""Model lists: only the models the calling key may use (routed, priced, on its allow-list).

``GET /v1/models`` answers in OpenAI's shape: every model the key may call on any endpoint
its permissions open (chat, embeddings...), each with the endpoints it serves
(``endpoints``). For a caller that sends ``anthropic-version`` it answers in Anthropic's
shape, and ``GET /v1beta/models`` in Gemini's: chat models only, what those APIs call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats.names import WHOLE, Endpoint
from airelay.pricing import DEFAULT_MAX_OUTPUT_TOKENS
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE
from airelay.store.snapshot import KeyRecord, Snapshot

MODEL_CREATED = 1700000000


def _json(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def permission(endpoint: Endpoint) -> str:
    """The key permission an endpoint's calls need (a Responses call is a chat call, a
    transcription an ``audio`` one)."""
    if endpoint is Endpoint.RESPONSES:
        return "chat"
    return WHOLE.get(endpoint, endpoint).value


def model_endpoints(snapshot: Snapshot, record: KeyRecord) -> dict[str, list[str]]:
    """Every model the key may call, by name, with the endpoints it may call it on: routed
    there, priced, on the key's allow-list, and an endpoint its permissions open."""
    return endpoints_for(snapshot, record.permissions, record.models)


def endpoints_for(
    snapshot: Snapshot, permissions: frozenset[str], models: frozenset[str] | None
) -> dict[str, list[str]]:
    """``model_endpoints`` for a key with these ``permissions`` and model allow-list (None:
    any model): also what a key not yet made would reach."""
    found: dict[str, list[str]] = {}
    for endpoint in Endpoint:
        if permission(endpoint) not in permissions:
            continue
        listed = WHOLE.get(endpoint, endpoint).value  # as channels declare it: ``audio``
        for name in snapshot.endpoint_routes.get(endpoint, {}):
            if name in snapshot.prices and (models is None or name in models):
                served = found.setdefault(name, [])
                if listed not in served:
                    served.append(listed)
    return dict(sorted(found.items()))


def usable_models(snapshot: Snapshot, record: KeyRecord) -> list[str]:
    """The chat models the key may call (the Anthropic and Gemini lists)."""
    return [
        name for name, endpoints in model_endpoints(snapshot, record).items() if "chat" in endpoints
    ]


def model_entry(
    snapshot: Snapshot, name: str, endpoints: list[str] | None = None
) -> dict[str, Any]:
    entry = snapshot.catalog.get(name)
    if entry is not None:
        out = {
            "id": name,
            "object": "model",
            "created": entry["created_at"],
            "owned_by": entry["owned_by"],
        }
    else:
        owner = name.partition("/")[0] if "/" in name else "airelay"
        out = {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": owner}
    if endpoints is not None:
        out["endpoints"] = endpoints
    return out


async def list_models(request: web.Request) -> web.Response:
    if "anthropic-version" in request.headers:
        return _anthropic_list(request)
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    models = model_endpoints(snapshot, record)
    data = [model_entry(snapshot, name, endpoints) for name, endpoints in models.items()]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def retrieve_model(request: web.Request) -> web.Response:
    snapshot = request.app[STATE].cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    name = request.match_info["model"]
    endpoints = model_endpoints(snapshot, record).get(name)
    if endpoints is None:
        raise GatewayError(404, f"The model '{name}' does not exist.")
    return web.Response(
        body=orjson.dumps(model_entry(snapshot, name, endpoints)), content_type="application/json"
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
