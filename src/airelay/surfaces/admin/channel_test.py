"""``POST /v1/admin/channels/{id}/test``: one small call to the channel's upstream on one of
its endpoints (``endpoint`` in the body or the query; the channel's first by default), sent
as a relayed call is: the provider builds (and signs) the request, the channel's own
transport (proxy, TLS options) carries it.

Each endpoint with a probe says what to send (a one-token chat turn in the channel's
format, a one-word embeddings input) and what a 200 must hold to count as working: a
channel that answers 200 with an error page or a truncated body does not work.

Images and audio have no call that costs nothing (an image or a speech is billed, a
transcription needs a file): their probe is the provider's free model list (``GET
{base_url}/models``, ``providers.base.ModelListing``), which proves the URL, the key and
the transport; the answer says in ``message`` when the list does not name the model.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from airelay.client import Target, Timeouts, UpstreamError, post_target
from airelay.client.target import request_target
from airelay.errors import GatewayError
from airelay.formats import ir
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.registry import CODECS, codec
from airelay.providers.base import (
    CredentialError,
    Egress,
    ModelListing,
    Provider,
    build,
    built,
)
from airelay.providers.presets import preset
from airelay.relay.scrub import scrub
from airelay.state import AppState
from airelay.store.snapshot import ChannelRecord
from airelay.surfaces.admin.common import admin
from airelay.surfaces.responses import json_response
from airelay.transport.base import send_whole

# A channel test without a timeout of its own waits this long in all.
TEST_SECONDS = 30.0

# The field every answer of a wire format has, besides what its codec reads.
_ANSWER_FIELD = {
    WireFormat.OPENAI: "choices",
    WireFormat.ANTHROPIC: "content",
    WireFormat.GEMINI: "candidates",
    WireFormat.OLLAMA: "message",
    WireFormat.RESPONSES: "output",
    WireFormat.OPENAI_EMBEDDINGS: "data",
    WireFormat.RERANK: "results",
    WireFormat.DASHSCOPE_RERANK: "output",
    WireFormat.SILICONFLOW_RERANK: "results",
    WireFormat.VIKING_RERANK: "data",
}


# Endpoints probed with the provider's model list (their smallest call is billed).
LISTED = frozenset({Endpoint.IMAGES, Endpoint.AUDIO})


def listing_problem(body: bytes, model: str) -> tuple[str | None, str | None]:
    """Why a 200 answer is not a model list (first), and a note when it does not name
    ``model`` (second)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the upstream answered 200 with a body that is not JSON", None
    listed = None
    if isinstance(document, dict):
        listed = document.get("data", document.get("models"))
    if not isinstance(listed, list):
        return "the upstream answered 200 without a model list ('data' or 'models')", None
    names = set()
    for item in listed:
        if isinstance(item, dict):
            for field in ("id", "name"):
                if isinstance(item.get(field), str):
                    names.add(item[field].removeprefix("models/"))
    if names and model not in names:
        return None, f"the upstream's model list does not name '{model}'"
    return None, None


def probe_body(fmt: WireFormat, model: str) -> bytes:
    """The smallest useful request of ``fmt``; ValueError for a format without a probe."""
    if fmt is WireFormat.OPENAI_EMBEDDINGS:
        return orjson.dumps({"model": model, "input": "hi"})
    if fmt is WireFormat.RERANK or fmt is WireFormat.SILICONFLOW_RERANK:
        return orjson.dumps({"model": model, "query": "hi", "documents": ["hi"]})
    if fmt is WireFormat.VIKING_RERANK:
        return orjson.dumps({"datas": [{"query": "hi", "content": "hi"}], "rerank_model": model})
    if fmt is WireFormat.DASHSCOPE_RERANK:
        return orjson.dumps({"model": model, "input": {"query": "hi", "documents": ["hi"]}})
    if fmt not in CODECS or fmt not in _ANSWER_FIELD:
        raise ValueError(f"no probe for the {fmt} format yet")
    request = ir.ChatRequest(
        model=model, messages=[ir.Message(role="user", parts=[ir.Text("hi")])], max_tokens=1
    )
    return orjson.dumps(codec(fmt).encode_request(request))


def answer_problem(fmt: WireFormat, body: bytes) -> str | None:
    """Why a 200 answer is not an answer of ``fmt`` (None when it is one)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the upstream answered 200 with a body that is not JSON"
    if not isinstance(document, dict) or document.get("error") is not None:
        return "the upstream answered 200 with an error or an unexpected shape"
    field = _ANSWER_FIELD[fmt]
    if not isinstance(document.get(field), list | dict):
        return f"the upstream answered 200 without '{field}': not a {fmt} answer"
    if fmt in CODECS:
        try:
            codec(fmt).decode_response(document)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"the upstream answered 200 in an unexpected shape: {exc}"
    return None


async def _params(request: web.Request) -> dict[str, str]:
    """``model`` and ``endpoint``, from the query, then the JSON body."""
    params = {name: request.query[name] for name in ("model", "endpoint") if name in request.query}
    if request.can_read_body:
        body = await request.read()
        if body.strip():
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise GatewayError(400, f"malformed JSON body: {exc}") from exc
            if not isinstance(payload, dict):
                raise GatewayError(400, "the body must be a JSON object")
            for name in ("model", "endpoint"):
                value = payload.get(name)
                if value is not None and not isinstance(value, str):
                    raise GatewayError(400, f"'{name}' must be a string")
                if value is not None:
                    params[name] = value
    return params


def _endpoint(channel: ChannelRecord, named: str | None) -> Endpoint:
    """The endpoint to probe: the one named (which the channel must serve), or the
    channel's first in the usual order (chat first)."""
    served = [endpoint for endpoint in Endpoint if endpoint in channel.endpoints]
    if named is None:
        if not served:
            raise GatewayError(400, "the channel serves no endpoint")
        return served[0]
    try:
        endpoint = Endpoint(named)
    except ValueError:
        known = ", ".join(endpoint.value for endpoint in Endpoint)
        raise GatewayError(400, f"'endpoint' must be one of: {known}") from None
    if endpoint not in channel.endpoints:
        raise GatewayError(
            400, f"the channel does not serve {endpoint} (it serves: {', '.join(served)})"
        )
    return endpoint


@admin
async def test_channel(request: web.Request, state: AppState) -> web.StreamResponse:
    """Send one small request to the upstream on one endpoint and report how it went."""
    channel_id = request.match_info["id"]
    channel = next((c for c in state.cache.current.channels if c.id == channel_id), None)
    if channel is None:
        raise GatewayError(404, f"channel '{channel_id}' not found")
    provider = preset(channel.type).provider
    if not channel.api_keys and provider.key_required:
        raise GatewayError(400, "the channel has no upstream key to test with")
    params = await _params(request)
    endpoint = _endpoint(channel, params.get("endpoint"))
    model = params.get("model") or (sorted(channel.models)[0] if channel.models else None)
    if model is None:
        raise GatewayError(400, "the channel lists no model; name one as 'model'")
    upstream_model = channel.upstream_model(model)
    result: dict[str, Any] = {"channel_id": channel.id, "model": model, "endpoint": endpoint}
    fmt = provider.formats.get(endpoint)
    lister = provider if endpoint in LISTED and isinstance(provider, ModelListing) else None
    listed = lister is not None
    started = time.perf_counter()
    try:
        if lister is not None:
            head = lister.models_head(channel.base_url, channel.next_key())
            target, body = request_target("GET", head.url, head.headers), b""
        else:
            if fmt is None:
                raise _NoProbe(f"the gateway does not speak the {endpoint} endpoint yet")
            egress = state.upstream.egress(channel)
            target, body = await _probe_request(
                provider, channel, endpoint, fmt, upstream_model, egress
            )
        # The channel's own transport (proxy, TLS options), as a relayed call would use.
        transport = state.upstream.for_channel(channel)
    except _NoProbe as exc:
        raise GatewayError(400, f"cannot test the {endpoint} endpoint: {exc}") from None
    except ValueError as exc:  # a URL, key or TLS option that cannot make a request
        raise GatewayError(400, f"the channel cannot make a request: {exc}") from None
    except CredentialError as exc:  # the token endpoint refused the key or failed
        message = scrub(f"no access token: {exc}", channel.secrets())
        result.update(success=False, status_code=None, message=message)
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return json_response(result)
    seconds = channel.timeout or TEST_SECONDS
    timeouts = Timeouts(min(state.settings.upstream_connect_timeout, seconds), seconds, seconds)
    try:
        response, answer = await send_whole(transport, target, body, timeouts)
        result["status_code"] = response.status
        problem = note = None
        if response.status == 200:
            if listed:
                problem, note = listing_problem(answer, upstream_model)
            elif fmt is not None:
                problem = answer_problem(fmt, answer)
        result["success"] = response.status == 200 and problem is None
        if note is not None and result["success"]:
            result["message"] = note
        if not result["success"]:
            text = problem or answer.decode("utf-8", "replace")
            result["message"] = scrub(text, channel.secrets())[:500] or f"HTTP {response.status}"
    except (UpstreamError, TimeoutError) as exc:
        result["success"] = False
        result["status_code"] = None
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        result["message"] = f"upstream unreachable: {detail}"
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return json_response(result)


class _NoProbe(ValueError):
    """The endpoint has no probe (a 400 that says so)."""


async def _probe_request(
    provider: Provider,
    channel: ChannelRecord,
    endpoint: Endpoint,
    fmt: WireFormat,
    model: str,
    egress: Egress,
) -> tuple[Target, bytes]:
    """The probe of ``endpoint`` built and signed as a relayed call would be (a key with a
    short-lived token waits for it once, fetched the channel's way; then it is cached)."""
    try:
        probe = probe_body(fmt, model)
    except ValueError as exc:
        raise _NoProbe(str(exc)) from None
    key = channel.next_key()
    upstream = await built(
        lambda: build(
            provider, channel.base_url, key, endpoint, model, probe, stream=False, egress=egress
        )
    )
    target = post_target(upstream.url, upstream.headers, encoded=upstream.encoded)
    return target, upstream.body
