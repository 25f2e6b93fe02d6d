"""Chat completions through the relay: pick channels, shape each upstream attempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from airelay.config import Settings
from airelay.errors import GatewayError
from airelay.providers.presets import preset
from airelay.relay.failover import Attempt
from airelay.relay.routing import attempt_order
from airelay.store.snapshot import ChannelRecord, Snapshot


def channels_for(snapshot: Snapshot, model: str) -> list[ChannelRecord]:
    """The channels to try for ``model``, in order: 404 if no one knows the model, 503 if
    none of the channels that know it can take calls now."""
    channels = snapshot.routes.get(model)
    if channels:
        return attempt_order(channels)
    if model in snapshot.known_models:
        raise GatewayError(503, f"No channel is available for the model '{model}'.")
    raise GatewayError(404, f"The model '{model}' does not exist.")


def attempt_builder(
    settings: Settings,
    payload: dict[str, Any],
    body: bytes,
    model: str,
    *,
    stream: bool,
    client_wants_usage: bool,
) -> Callable[[ChannelRecord], Attempt]:
    """Per channel: its URL, its next key, and the body with the upstream's model name.

    The body is re-encoded only when something must change; otherwise the client's bytes go
    upstream as they came. For streams the upstream is always asked for usage (the relay
    meters it); the usage chunk is later dropped if the client did not ask for it.
    """

    def build(channel: ChannelRecord) -> Attempt:
        upstream_model = channel.upstream_model(model)
        outgoing = body
        if upstream_model != model or (stream and not client_wants_usage):
            changed = dict(payload)
            changed["model"] = upstream_model
            if stream:
                options = payload.get("stream_options") or {}
                changed["stream_options"] = {**options, "include_usage": True}
            outgoing = orjson.dumps(changed)
        adapter = preset(channel.type).adapter
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=channel.timeout or settings.upstream_timeout,
        )
        return Attempt(
            channel=channel,
            url=adapter.chat_url(channel.base_url, upstream_model, stream=stream),
            headers=adapter.headers(channel.next_key()),
            body=outgoing,
            timeout=timeout,
        )

    return build
