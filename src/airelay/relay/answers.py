"""Whole (non-stream) answers: an upstream's answer read once for the client, in the
client's format, with its usage settled (``read_whole``); an error passed through or put
in the client's shape, scrubbed of the channel's secrets."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from airelay.formats.ir import ChatResponse
from airelay.formats.registry import TYPED_ANSWERS, codec
from airelay.formats.registry import body as format_body
from airelay.formats.text import answer_text
from airelay.formats.usage import Usage
from airelay.relay.attempts import wire_format
from airelay.relay.call import Call
from airelay.relay.failover import Completed, Unusable
from airelay.relay.media import bridged
from airelay.relay.metering import Meter
from airelay.relay.scrub import scrub
from airelay.store.snapshot import ChannelRecord


@dataclass(frozen=True, slots=True)
class Whole:
    status: int
    body: bytes
    content_type: str
    # Headers of the client's response beside the content type (``x-ratelimit-*``).
    headers: Mapping[str, str] = field(default_factory=dict, kw_only=True)


@dataclass(frozen=True, slots=True)
class Unbilled(Whole):
    """A 200 whose upstream reported no usage: counted offline, then ``rebody(usage)`` is
    the answer carrying that count (what the client is told is what it is billed)."""

    channel_id: str
    text: str
    rebody: Callable[[Usage], bytes]


def read_whole(call: Call, result: Completed, meter: Meter, status: int) -> Whole:
    """A whole upstream answer for the client, read once; settles (200) or releases (an
    error) the meter. Raises ``Unusable`` for a 200 that cannot be read: the next channel
    is tried."""
    fmt = wire_format(result.channel, call)
    upstream_model = result.channel.upstream_model(call.model)
    content_type = result.content_type.split(";")[0] or "application/json"
    across = bridged(call, fmt)
    if result.status != 200:
        meter.release()
        if fmt == call.client:
            return Whole(result.status, result.body, content_type)
        if across is not None:
            error_body = across.error(result.status, result.body)
            return Whole(result.status, error_body, "application/json")
        message = upstream_error_message(result.body, result.channel)
        error = codec(call.client).error_body(result.status, message, None)
        return Whole(result.status, orjson.dumps(error), "application/json")
    rebody: Callable[[Usage], bytes]
    try:
        if fmt == call.client:
            passed = format_body(fmt)
            body, usage, document = passed.whole_usage(result.body, upstream_model, call.model)
            usage = counted(usage, call)
            if usage is None:
                text = passed.answer_text(document)
                rebody = functools.partial(passed.with_usage, document)
        elif across is not None:
            body, usage, document = across.answer(result.body, call, call.model)
            usage = counted(usage, call)
            if usage is None:
                passed = format_body(call.client)
                text = passed.answer_text(document)
                rebody = functools.partial(passed.with_usage, document)
        else:
            answer = codec(fmt).decode_response(orjson.loads(result.body))
            answer.model = call.model
            if call.thinking is not None:
                call.thinking.seal_answer(answer, fmt, result.channel.id)
            body = orjson.dumps(codec(call.client).encode_response(answer, call.request_ir()))
            usage = counted(answer.usage, call)
            if usage is None:
                text = answer_text(answer)
                rebody = functools.partial(with_usage, call, answer)
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise Unusable(f"the upstream answered 200 in an unexpected shape ({why(exc)})") from exc
    if usage is None:
        # Counted before the answer goes out (in a thread when long), and told to the client.
        return Unbilled(200, body, "application/json", result.channel.id, text, rebody)
    meter.settle(usage, channel_id=result.channel.id, status=status)
    # An answer that is not JSON (audio; text, srt, vtt) keeps the upstream's type.
    kept = fmt == call.client and fmt in TYPED_ANSWERS
    # The limit stage's headers at once (``pipeline`` would otherwise copy the answer).
    headers = call.limit_headers or {}
    return Whole(200, body, content_type if kept else "application/json", headers=headers)


def counted(usage: Usage | None, call: Call) -> Usage | None:
    """An upstream's usage, or what the call's request tells it bills (``known``), or
    None when neither counted anything (some compatible upstreams answer zeros): no answer
    comes from an empty prompt."""
    if usage is None or not usage.counted:
        return call.known
    return usage


def with_usage(call: Call, answer: ChatResponse, usage: Usage) -> bytes:
    answer.usage = usage
    return orjson.dumps(codec(call.client).encode_response(answer, call.request_ir()))


def why(exc: Exception) -> str:
    if isinstance(exc, orjson.JSONDecodeError):
        return "not valid JSON"
    return str(exc)[:200] if isinstance(exc, ValueError) else type(exc).__name__


def upstream_error_message(body: bytes, channel: ChannelRecord) -> str:
    """The message of an upstream error in any of the three shapes, scrubbed."""
    message = body.decode("utf-8", "replace")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif isinstance(error, str):
            message = error
    return scrub(message, (*channel.api_keys, channel.base_url))[:1000]
