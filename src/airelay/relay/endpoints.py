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
    return channel.cached(
        ("upstream endpoint", call.endpoint, call.client),
        lambda: upstream_endpoint(
            call.endpoint,
            call.client,
            with_parts(channel.endpoints),  # a channel serving ``audio`` serves its parts
            preset(channel.type).provider.formats,
        ),
    )


def channel_format(channel: ChannelRecord, call: Call) -> WireFormat:
    """The format ``channel``'s upstream speaks for ``call``."""
    return preset(channel.type).provider.formats[channel_endpoint(channel, call)]
