"""``/v1/admin/channels``: upstreams, their keys (encrypted, shown masked), models, routing."""

from __future__ import annotations

import time
from typing import Any

import orjson
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
from airelay.client import Timeouts, UpstreamError, post_target
from airelay.errors import GatewayError
from airelay.formats import ir
from airelay.formats.names import Endpoint, WireFormat, upstream_endpoint
from airelay.formats.registry import codec
from airelay.providers.base import build
from airelay.providers.presets import preset
from airelay.relay.scrub import scrub
from airelay.security.keys import mask
from airelay.state import AppState
from airelay.store import channels as channels_repo
from airelay.store import crud, tables
from airelay.store.snapshot import channel_models
from airelay.surfaces.admin.common import admin, config_changed, decode, iso, require
from airelay.surfaces.responses import json_response
from airelay.transport.options import mask_proxy

# A channel test without a timeout of its own waits this long in all.
TEST_SECONDS = 30.0


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
    async with state.engine.connect() as conn:
        rows = await crud.all_rows(conn, tables.channels)
    return json_response({"channels": [view(row, state) for row in rows], "total": len(rows)})


@admin
async def create_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    values = sealed(new_channel(await decode(request, ChannelCreate)), state.box.encrypt)
    async with state.engine.begin() as conn:
        row = await channels_repo.create(conn, values)
        await config_changed(conn)
    await state.cache.reload()
    return json_response(view(row, state), status=201)


@admin
async def get_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    async with state.engine.connect() as conn:
        row = require(await crud.get(conn, tables.channels, channel_id), "channel", channel_id)
    return json_response(view(row, state))


@admin
async def update_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    values = channel_changes(await decode(request, ChannelPatch))
    async with state.engine.begin() as conn:
        current = require(await crud.get(conn, tables.channels, channel_id), "channel", channel_id)
        _check_patched(state, current, values)
        stored = sealed(values, state.box.encrypt)
        stored["updated_at"] = int(time.time())
        row = await crud.update(conn, tables.channels, channel_id, stored)
        await config_changed(conn)
    await state.cache.reload()
    return json_response(view(row, state))


def _check_patched(state: AppState, current: dict[str, Any], values: dict[str, Any]) -> None:
    """The rules that hold for the whole channel as the patch leaves it: its endpoints and
    keys against its type (the stored keys are checked again when the type changes)."""
    channel_type = values.get("type", current["type"])
    endpoints = values["endpoints"] if "endpoints" in values else current["endpoints"]
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
    check_type_fit(channel_type, endpoints, keys)


@admin
async def delete_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    channel_id = request.match_info["id"]
    async with state.engine.begin() as conn:
        if not await crud.delete(conn, tables.channels, channel_id):
            raise GatewayError(404, f"channel '{channel_id}' not found")
        await config_changed(conn)
    await state.cache.reload()
    return json_response({"id": channel_id, "deleted": True})


@admin
async def test_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    """Send a one-token chat request to the upstream and report how it went."""
    channel_id = request.match_info["id"]
    channel = next((c for c in state.cache.current.channels if c.id == channel_id), None)
    if channel is None:
        raise GatewayError(404, f"channel '{channel_id}' not found")
    if not channel.api_keys:
        raise GatewayError(400, "the channel has no upstream key to test with")
    requested = request.query.get("model")
    if request.can_read_body:
        body = await request.read()
        if body.strip():
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise GatewayError(400, f"malformed JSON body: {exc}") from exc
            if isinstance(payload, dict) and isinstance(payload.get("model"), str):
                requested = payload["model"]
    model = requested or (sorted(channel.models)[0] if channel.models else None)
    if model is None:
        raise GatewayError(400, "the channel lists no model; name one as 'model'")
    upstream_model = channel.upstream_model(model)
    provider = preset(channel.type).provider
    try:  # a chat call as the channel would take it (on its Responses endpoint, if only that)
        endpoint = upstream_endpoint(
            Endpoint.CHAT, WireFormat.OPENAI, channel.endpoints, provider.formats
        )
    except LookupError:
        endpoint = Endpoint.CHAT
    fmt = provider.formats[endpoint]
    probe = codec(fmt).encode_request(
        ir.ChatRequest(
            model=upstream_model,
            messages=[ir.Message(role="user", parts=[ir.Text("hi")])],
            max_tokens=1,
        )
    )
    started = time.perf_counter()
    result: dict[str, Any] = {"channel_id": channel.id, "model": model}
    try:
        upstream = build(
            provider,
            channel.base_url,
            channel.next_key(),
            endpoint,
            upstream_model,
            orjson.dumps(probe),
            stream=False,
        )
        target = post_target(upstream.url, upstream.headers, encoded=upstream.encoded)
        # The channel's own transport (proxy, TLS options), as a relayed call would use.
        transport = state.upstream.for_channel(channel)
    except ValueError as exc:  # a URL, key or TLS option that cannot make a request
        raise GatewayError(400, f"the channel cannot make a request: {exc}") from None
    seconds = channel.timeout or TEST_SECONDS
    timeouts = Timeouts(min(state.settings.upstream_connect_timeout, seconds), seconds, seconds)
    try:
        response = await transport.send(target, upstream.body, timeouts)
        try:
            body = await response.read()
        except BaseException:
            response.close()
            raise
        response.release()
        result["status_code"] = response.status
        problem = _answer_problem(fmt, body) if response.status == 200 else None
        result["success"] = response.status == 200 and problem is None
        if not result["success"]:
            text = problem or body.decode("utf-8", "replace")
            result["message"] = scrub(text, channel.secrets())[:500] or f"HTTP {response.status}"
    except (UpstreamError, TimeoutError) as exc:
        result["success"] = False
        result["status_code"] = None
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        result["message"] = f"upstream unreachable: {detail}"
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return json_response(result)


# The field every answer of a wire format has, besides what its codec reads.
_ANSWER_FIELD = {
    WireFormat.OPENAI: "choices",
    WireFormat.ANTHROPIC: "content",
    WireFormat.GEMINI: "candidates",
    WireFormat.RESPONSES: "output",
}


def _answer_problem(fmt: WireFormat, body: bytes) -> str | None:
    """Why a 200 answer is not a chat answer of ``fmt`` (None when it is one): a channel
    that answers 200 with an error page or a truncated body does not work."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the upstream answered 200 with a body that is not JSON"
    if not isinstance(document, dict) or document.get("error", None) is not None:
        return "the upstream answered 200 with an error or an unexpected shape"
    if not isinstance(document.get(_ANSWER_FIELD[fmt]), list):
        return f"the upstream answered 200 without '{_ANSWER_FIELD[fmt]}': not a {fmt} answer"
    try:
        codec(fmt).decode_response(document)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"the upstream answered 200 in an unexpected shape: {exc}"
    return None
