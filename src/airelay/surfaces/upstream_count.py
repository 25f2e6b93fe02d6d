"""``count_tokens`` answered by the upstream when the model's first channel is Anthropic's
own API: its count is exact for its models (the local tokenizer only approximates Claude's)
and the endpoint is free. Any failure (no such channel, a timeout, an error status, an
answer without a count) gives ``None``, and the caller counts locally."""

from __future__ import annotations

from typing import Any

import orjson

from airelay.client import Timeouts, UpstreamError, post_target
from airelay.errors import GatewayError
from airelay.formats.names import Endpoint
from airelay.providers.anthropic import Anthropic
from airelay.providers.base import ClientExtras
from airelay.providers.presets import preset
from airelay.relay.routing import channels_for
from airelay.state import AppState
from airelay.store.snapshot import Snapshot
from airelay.transport.base import send_whole

#: The upstream count gets this long in all (connect included) before the local one answers.
COUNT_SECONDS = 5.0


async def upstream_count(
    state: AppState,
    snapshot: Snapshot,
    model: str,
    body: bytes,
    payload: dict[str, Any],
    extras: ClientExtras | None,
) -> int | None:
    """The upstream's count of the request ``body`` (``payload`` parsed) for ``model``, or
    None when the first channel routed for it is not Anthropic's API or cannot count."""
    try:
        channel = channels_for(snapshot, model, Endpoint.CHAT)[0]
    except GatewayError:
        return None
    provider = preset(channel.type).provider
    if not isinstance(provider, Anthropic) or not channel.api_keys:
        return None
    upstream_model = channel.upstream_model(model)
    if upstream_model != model:
        body = orjson.dumps({**payload, "model": upstream_model})
    head = provider.count_tokens_head(channel.base_url, channel.next_key())
    url, fields = head.url, dict(head.headers)
    forward = None if extras is None else provider.forward(extras, channel)
    if forward is not None:
        fields.update(forward.fields)
        if forward.query:
            url = f"{url}?{forward.query}"
    seconds = min(channel.timeout or COUNT_SECONDS, COUNT_SECONDS)
    timeouts = Timeouts(min(state.settings.upstream_connect_timeout, seconds), seconds, seconds)
    try:
        target = post_target(url, fields)
        transport = state.upstream.for_channel(channel)
        response, answer = await send_whole(transport, target, body, timeouts)
    except (ValueError, UpstreamError, TimeoutError):
        return None
    if response.status != 200:
        return None
    try:
        document = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None
    tokens = document.get("input_tokens") if isinstance(document, dict) else None
    if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
        return tokens
    return None
