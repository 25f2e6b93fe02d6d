"""What the endpoints beyond chat ask of the pipeline, kept apart from it: formats that
translate directly (``formats.bridge``: a rerank for DashScope's native API) instead of
through the IR, and answers that are audio bytes copied to the client as they come.

Nothing here names a format: the registry says which pairs bridge and which answers are
raw, and the call carries what it bills when its request tells (``Call.known``).
"""

from __future__ import annotations

import asyncio

from airelay.client import UpstreamError
from airelay.formats.bridge import Bridge
from airelay.formats.names import WireFormat
from airelay.formats.registry import RAW_STREAMS, bridge
from airelay.formats.usage import Usage
from airelay.relay.call import Call
from airelay.relay.failover import Streaming
from airelay.relay.metering import CLIENT_CLOSED, Meter
from airelay.relay.streaming import Write


def bridged(call: Call, fmt: WireFormat) -> Bridge | None:
    """The direct translation of ``call`` for an upstream speaking ``fmt``, if there is
    one (never between a format and itself)."""
    return None if fmt == call.client else bridge(call.client, fmt)


def direct(call: Call, fmt: WireFormat) -> bool:
    """Whether ``call`` reaches an upstream speaking ``fmt`` without the IR."""
    return fmt == call.client or bridge(call.client, fmt) is not None


def raw_stream(call: Call) -> bool:
    """Whether the call's answer is bytes copied as they come (audio), not events."""
    return call.client in RAW_STREAMS


async def relay_raw(
    call: Call,
    upstream: Streaming,
    meter: Meter,
    write: Write,
    *,
    max_bytes: int,
    max_seconds: float,
) -> None:
    """Copy the upstream's bytes to ``write`` until it ends, then close and settle.

    What such a call bills is known from its request (``call.known``): a complete answer
    settles it, and so does one the client stopped reading (the upstream did the work).
    An answer the upstream broke off, or that passed the gateway's caps, is released:
    the client got a cut file, not what it paid for."""
    received = 0
    status = 502
    try:
        async with asyncio.timeout(max_seconds):
            chunk = upstream.first
            while chunk:
                received += len(chunk)
                if received > max_bytes:
                    break
                await write(chunk)
                chunk = await upstream.response.readany()
            else:
                status = 200
    except (ConnectionError, asyncio.CancelledError):
        status = CLIENT_CLOSED  # the client went away
        raise
    except (UpstreamError, TimeoutError):
        status = 502
    finally:
        upstream.close()
        if status == 502:
            meter.release()
        else:
            meter.settle(call.known or Usage(), channel_id=upstream.channel.id, status=status)
