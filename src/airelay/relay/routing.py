"""Channel order for one call: priority first (1 before 2), weighted shuffle within a
priority, so that each channel of a priority takes its weight's share of first attempts."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from airelay.errors import GatewayError
from airelay.formats.names import Endpoint
from airelay.store.snapshot import ChannelRecord, Snapshot


def attempt_order(
    channels: Sequence[ChannelRecord], rng: random.Random | None = None
) -> list[ChannelRecord]:
    if len(channels) == 1:
        return [channels[0]]
    draw = (rng or random).random

    def sort_key(channel: ChannelRecord) -> tuple[int, float]:
        # Efraimidis-Spirakis: u ** (1/w) ranks items in a weighted random order.
        weight = max(channel.weight, 0)
        rank = draw() ** (1.0 / weight) if weight > 0 else -draw()
        return channel.priority, -rank

    return sorted(channels, key=sort_key)


def fastest_first(
    channels: list[ChannelRecord], ttfb: Callable[[str], float]
) -> list[ChannelRecord]:
    """``channels`` (in attempt order) with those of one priority sorted by ``ttfb`` (a
    moving average of the time to an upstream's response head; 0 for a channel not yet
    measured, so that it gets tried); the weighted shuffle breaks ties (the sort is
    stable)."""
    if len(channels) > 1:
        channels.sort(key=lambda channel: (channel.priority, ttfb(channel.id)))
    return channels


def bound_first(channels: list[ChannelRecord], channel_id: str) -> list[ChannelRecord]:
    """``channels`` (in attempt order) with the one a session is bound to first, if it is
    among them (it still serves the model and takes calls); the rest keep their order, the
    failover behind it."""
    for index, channel in enumerate(channels):
        if channel.id == channel_id:
            if index:
                channels.insert(0, channels.pop(index))
            break
    return channels


def channels_for(snapshot: Snapshot, model: str, endpoint: Endpoint) -> list[ChannelRecord]:
    """The channels to try for ``model`` on ``endpoint``, in order: 404 if no one knows the
    model, 503 if none of the channels that know it serves that endpoint and can take calls
    now (a chat-only channel never gets an embeddings call)."""
    channels = snapshot.endpoint_routes[endpoint].get(model)
    if channels:
        return attempt_order(channels)
    if model in snapshot.known_models:
        raise GatewayError(503, _unavailable(snapshot, model, endpoint))
    raise GatewayError(404, f"The model '{model}' does not exist.")


def _unavailable(snapshot: Snapshot, model: str, endpoint: Endpoint) -> str:
    """Why no channel can take the call (the error path only)."""
    served = any(model in by_model for by_model in snapshot.endpoint_routes.values())
    if served:
        return f"No channel serves the {endpoint} endpoint for the model '{model}'."
    return f"No channel is available for the model '{model}'."
