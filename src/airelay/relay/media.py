"""What the endpoints beyond chat ask of the pipeline, kept apart from it: formats that
translate directly (``formats.bridge``: a rerank for DashScope's native API) instead of
through the IR, and answers copied to the client as their bytes come (audio, and the events
of a streamed transcription, watched on the side).

Nothing here names a format: the registry says which pairs bridge and which answers are
raw, and the call carries what it bills when its request tells (``Call.known``).
"""

from __future__ import annotations

import asyncio
import contextlib

from airelay.client import UpstreamError
from airelay.formats.bridge import Bridge
from airelay.formats.names import WireFormat
from airelay.formats.registry import RAW_STREAMS, RAW_WATCHES, WHOLE_AS_EVENTS, bridge, raw_watch
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


def raw_bytes(call: Call) -> bool:
    """Whether a stream call takes any answer that is neither events nor JSON as bytes to
    copy as they come (audio). Not a format whose stream is made of events (a
    transcription's): an answer of another kind is read whole, and told as events
    (``events_of_whole``) when it can be."""
    return call.client in RAW_STREAMS and call.client not in RAW_WATCHES


def events_of_whole(call: Call, body: bytes, content_type: str) -> bytes | None:
    """A stream call its upstream answered whole (a model that does not stream, or an
    upstream that ignores the flag): that answer as the events the client's stream would
    have carried, when its format has them for it; None: the answer goes as it came."""
    make = WHOLE_AS_EVENTS.get(call.client)
    return None if make is None else make(call.payload, body, content_type)


async def relay_raw(
    call: Call,
    upstream: Streaming,
    meter: Meter,
    write: Write,
    *,
    max_bytes: int,
    max_seconds: float,
) -> bool:
    """Copy the upstream's bytes to ``write`` until it ends, then close and settle; returns
    False when the stream was cut and the client could not be told so in its bytes (audio):
    the surface must then end the response abnormally, never as a whole file.

    A stream made of events (a streamed transcription) is read on the side by its
    ``RawWatch``: it is complete once its last event came, and bills the usage that event
    reports. Otherwise what such a call bills is known from its request (``call.known``).
    A complete answer settles it, and so does one the client stopped reading (the upstream
    did the work). An answer the upstream broke off, reported failed, or that passed the
    gateway's caps is cut, and recorded as such, as a cut chat stream is (status 502), but
    billed only for what the upstream reported before it broke (nothing of the file's
    price): the client got a cut file, not what it paid for."""
    watch = raw_watch(call.client)
    received = 0
    status = 502
    reason = "upstream stream ended before completion"
    try:
        async with asyncio.timeout(max_seconds):
            chunk = upstream.first
            while chunk:
                received += len(chunk)
                if received > max_bytes:
                    reason = f"the stream passed the gateway's limit of {max_bytes} bytes"
                    break
                if watch is not None:
                    watch.feed(chunk)
                await write(chunk)
                if watch is not None and watch.failure is not None:
                    reason = "upstream stream failed: " + watch.failure
                    break
                chunk = await upstream.response.readany()
            else:
                if watch is None or watch.finished:
                    status = 200
        if status == 502 and watch is not None:
            with contextlib.suppress(ConnectionError):  # cut either way: recorded as such
                await write(watch.error_event(reason))
    except (ConnectionError, asyncio.CancelledError):
        status = CLIENT_CLOSED  # the client went away
        raise
    except (UpstreamError, TimeoutError):
        status = 502
        if watch is not None:
            with contextlib.suppress(ConnectionError):
                await write(watch.error_event("upstream stream failed"))
    finally:
        upstream.close()
        reported = None if watch is None else watch.usage
        if status == 502:
            meter.settle(reported or Usage(), channel_id=upstream.channel.id, status=status)
        else:
            billed = reported or call.known or Usage()
            meter.settle(billed, channel_id=upstream.channel.id, status=status)
    return status != 502 or watch is not None
