"""One attempt's request, per channel: which channels can take a call (``servable``),
whether it needs its remote images inlined first, and the body and head of the request
sent to one channel with one upstream key (``build_attempt``): the client's bytes when the
channel speaks the client's format, else the IR encoded in the channel's format."""

from __future__ import annotations

import dataclasses
import functools
import operator

import orjson

from airelay.client import Target, Timeouts, post_target
from airelay.config import Settings
from airelay.errors import GatewayError
from airelay.formats.codec import Untranslatable
from airelay.formats.ir import ChatRequest
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.registry import body as format_body
from airelay.formats.registry import codec, wire
from airelay.providers.base import Head, Provider
from airelay.providers.presets import preset
from airelay.relay.call import Call
from airelay.relay.endpoints import channel_endpoint, channel_format
from airelay.relay.failover import Attempt
from airelay.relay.media import bridged, direct
from airelay.store.snapshot import ChannelRecord
from airelay.transport.choice import Transports


def wire_format(channel: ChannelRecord, call: Call) -> WireFormat:
    """The format ``channel``'s upstream speaks for ``call`` (on the endpoint chosen for it)."""
    return channel_format(channel, call)


def servable(call: Call, channels: list[ChannelRecord]) -> list[ChannelRecord]:
    """The channels that can take ``call``: every one when it translates (or none needs
    it to), else only those of the client's format; when there are none, every one with
    what translates of it (``Untranslatable.lenient``: a tool built into one provider's
    service left out), or a 400 when nothing does."""
    if all(direct(call, wire_format(channel, call)) for channel in channels):
        return channels
    try:
        call.request_ir()
    except ValueError as exc:
        same = [channel for channel in channels if wire_format(channel, call) == call.client]
        if same:
            return same
        lenient = exc.lenient if isinstance(exc, Untranslatable) else None
        if lenient is None:
            raise GatewayError(400, str(exc)) from exc
        call.ir = lenient  # what the other formats can carry of it
    return channels


def needs_inline_images(call: Call, channels: list[ChannelRecord]) -> bool:
    """A call translated for a channel whose format takes images inline only."""
    for channel in channels:
        fmt = wire_format(channel, call)
        if not direct(call, fmt) and wire(fmt).inline_images_only:
            return True
    return False


def build_attempt(
    settings: Settings, transports: Transports, call: Call, channel: ChannelRecord, key: str
) -> Attempt:
    """The request of one attempt on ``channel`` with the upstream ``key``: the body in the
    channel's format, and the provider's head for (endpoint, key, model, stream), encoded
    once and cached on the channel.
    A provider that signs each request (``per_call``) adds its fields and its body shape
    to a copy of that head, and so do the client's extras the provider passes on (their
    query, from a small fixed set, is part of the cached head instead); its token
    requests go the channel's way (``transports.egress``)."""
    provider = preset(channel.type).provider
    upstream_model = channel.upstream_model(call.model)
    endpoint = channel_endpoint(channel, call)
    fmt = provider.formats[endpoint]
    across = bridged(call, fmt)
    if fmt == call.client and not (call.thinking is not None and call.thinking.carries_tokens):
        body = same_format_body(call, upstream_model)
    elif across is not None:  # a non-chat format translated directly (rerank, embeddings)
        try:
            body = across.request(call, upstream_model)
        except ValueError as exc:  # what this channel's format cannot carry of the call
            raise GatewayError(400, str(exc)) from exc
    else:
        body = _translated_body(call, fmt, channel.id, upstream_model)
    timeouts = (
        _timeouts(settings.upstream_connect_timeout, channel.timeout) if channel.timeout else None
    )
    # What the client sent beside its body, as far as this channel's provider passes it on.
    forward = None if call.extras is None else provider.forward(call.extras, channel)
    query = "" if forward is None else forward.query
    head, target = channel.cached(
        (endpoint, upstream_model, call.stream, key, query),
        lambda: encoded_head(
            provider, channel.base_url, key, endpoint, upstream_model, call.stream, query
        ),
    )
    if forward is not None and forward.fields:
        target = target.with_fields(forward.fields)
    if call.content_type is not None:  # a form's type names its boundary
        target = target.with_fields({"Content-Type": call.content_type})
    if provider.per_call:
        finished = provider.finish(head, key, body, transports.egress(channel))
        body = finished.body
        target = target.with_fields(finished.fields)
    return Attempt(
        channel=channel, target=target, body=body, timeouts=timeouts, key=key, model=call.model
    )


def encoded_head(
    provider: Provider,
    base_url: str,
    key: str,
    endpoint: Endpoint,
    model: str,
    stream: bool,
    query: str = "",
) -> tuple[Head, Target]:
    head = provider.head(base_url, key, endpoint, model, stream=stream)
    if query:
        joiner = "&" if "?" in head.url else "?"
        head = dataclasses.replace(head, url=head.url + joiner + query)
    return head, post_target(head.url, head.headers, encoded=head.encoded)


def _translated_body(call: Call, fmt: WireFormat, channel_id: str, upstream_model: str) -> bytes:
    """The call's request in ``fmt`` for the channel ``channel_id``, through the IR.
    Also for a channel of the client's own format when the client sent back thinking
    tokens the gateway sealed (from a channel of another format): they mean nothing
    there, and the codec writes the request without them (the rare call that passes
    through the IR although it could pass as bytes); a request the IR cannot hold goes
    as it came."""
    try:
        request = call.request_ir()
    except (ValueError, LookupError):  # LookupError: a format without a chat codec
        if fmt != call.client:
            raise
        return same_format_body(call, upstream_model)
    ir = ChatRequest(*_REQUEST_FIELDS(request))
    ir.model, ir.stream, ir.include_usage = upstream_model, call.stream, True
    if call.thinking is not None:
        ir = call.thinking.request_for(ir, fmt, channel_id)
    return orjson.dumps(codec(fmt).encode_request(ir))


# A request's fields in the order its constructor takes them: a copy reads them all at
# once (``dataclasses.replace`` checks each field on every call, at four times the cost).
_REQUEST_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(ChatRequest)))


@functools.lru_cache(maxsize=64)
def _timeouts(connect: float, read: float) -> Timeouts:
    return Timeouts(connect=connect, read=read)


def same_format_body(call: Call, upstream_model: str) -> bytes:
    """The client's bytes for a channel of its format, changed only where the gateway must
    (the format's wire decides: model name, usage in streams)."""
    return format_body(call.client).same_format_body(call, upstream_model)
