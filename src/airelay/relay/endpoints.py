"""Which of a channel's endpoints serves a call: the data (which endpoints answer each
other's calls) and the choice live in ``formats.names``; this reads a channel's provider
and caches the answer on the channel, so the hot path pays one dict lookup."""

from __future__ import annotations

from airelay.formats.names import Endpoint, WireFormat, upstream_endpoint, with_parts
from airelay.providers.presets import preset
from airelay.relay.call import Call
from airelay.store.snapshot import ChannelRecord


def channel_endpoint(channel: ChannelRecord, call: Call) -> Endpoint:
    """The endpoint ``channel`` gets ``call`` on: the one that speaks the client's format
    when it serves one (bytes pass through), else one of the call's family (translated)."""
    return _route(channel, call)[0]


def channel_format(channel: ChannelRecord, call: Call) -> WireFormat:
    """The format ``channel``'s upstream speaks for ``call``."""
    return _route(channel, call)[1]


def _route(channel: ChannelRecord, call: Call) -> tuple[Endpoint, WireFormat]:
    # Asked several times per call (routing, each attempt, the stream): one table per
    # channel, filled once per (endpoint, client format), read without building a closure.
    routes: dict[tuple[Endpoint, WireFormat], tuple[Endpoint, WireFormat]]
    routes = channel.cached(_ROUTES, dict)
    key = (call.endpoint, call.client)
    found = routes.get(key)
    if found is None:
        formats = preset(channel.type).provider.formats
        endpoint = upstream_endpoint(
            call.endpoint,
            call.client,
            with_parts(channel.endpoints),  # a channel serving ``audio`` serves its parts
            formats,
        )
        found = routes[key] = (endpoint, formats[endpoint])
    return found


_ROUTES = "upstream routes"
