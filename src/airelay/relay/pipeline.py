"""One chat call through the relay, whatever the client's format and the channel's:

    route -> meter (reserve) -> per channel: shape the attempt -> call with failover
          -> whole answer or stream, passed through or translated -> settle

When the client and the channel speak the same format the bytes pass through (model
renamed, usage read); otherwise the IR translates request, answer and stream.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import orjson

from airelay.billing.tokens import prompt_upper_bound
from airelay.client import Timeouts, post_target
from airelay.config import Settings
from airelay.formats import openai_chat
from airelay.formats.registry import codec
from airelay.formats.usage import Usage
from airelay.providers.presets import preset
from airelay.relay.call import ChatCall
from airelay.relay.estimate import answer_text, estimated_usage
from airelay.relay.failover import Attempt, Completed, Streaming, call_with_failover
from airelay.relay.images import inline_remote_images
from airelay.relay.metering import CLIENT_CLOSED, Meter, open_meter
from airelay.relay.passthrough import whole_usage
from airelay.relay.routing import channels_for
from airelay.relay.scrub import scrub
from airelay.relay.streaming import Write, relay_stream
from airelay.state import AppState
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot


@dataclass(frozen=True, slots=True)
class Whole:
    status: int
    body: bytes
    content_type: str


@dataclass(slots=True)
class Streamed:
    """An open upstream stream: ``run(write)`` copies it to the client and settles; if the
    surface cannot start the response, ``abandon()`` closes and settles instead."""

    call: ChatCall
    upstream: Streaming
    meter: Meter
    channel_fmt: str
    content_type: str

    async def run(self, write: Write) -> None:
        await relay_stream(self.call, self.upstream, self.meter, self.channel_fmt, write)

    def abandon(self) -> None:
        self.upstream.close()
        self.meter.settle(Usage(), channel_id=self.upstream.channel.id, status=CLIENT_CLOSED)


def wire_format(channel: ChannelRecord) -> str:
    return preset(channel.type).adapter.wire_format


async def run_chat(
    state: AppState, snapshot: Snapshot, record: KeyRecord, call: ChatCall
) -> Whole | Streamed:
    channels = channels_for(snapshot, call.model)
    if call.client != "gemini" and any(wire_format(c) == "gemini" for c in channels):
        # Gemini takes images inline only: fetch the URLs once, before any attempt.
        await inline_remote_images(state.images, call.request_ir())
    max_output, choices = _output_bounds(call)
    meter = await open_meter(
        state.wallets,
        snapshot,
        record,
        model=call.model,
        endpoint=call.endpoint,
        request_id=call.request_id,
        prompt_tokens=prompt_upper_bound(len(call.body)),
        max_output_tokens=max_output,
        choices=choices,
    )
    try:
        settings = state.settings
        result = await call_with_failover(
            state.upstream, channels, lambda ch: _attempt(settings, call, ch), stream=call.stream
        )
        if isinstance(result, Completed):
            return _whole(call, result, meter)
        return Streamed(
            call=call,
            upstream=result,
            meter=meter,
            channel_fmt=wire_format(result.channel),
            content_type="application/json" if call.json_array else "text/event-stream",
        )
    except BaseException:
        meter.release()
        raise


def _output_bounds(call: ChatCall) -> tuple[int | None, int]:
    if call.client == "openai":
        return openai_chat.output_cap(call.payload), openai_chat.choice_count(call.payload)
    ir = call.request_ir()
    return ir.max_tokens, ir.n or 1


def _attempt(settings: Settings, call: ChatCall, channel: ChannelRecord) -> Attempt:
    adapter = preset(channel.type).adapter
    upstream_model = channel.upstream_model(call.model)
    fmt = adapter.wire_format
    if fmt == call.client:
        body = _same_format_body(call, upstream_model)
    else:
        ir = dataclasses.replace(
            call.request_ir(), model=upstream_model, stream=call.stream, include_usage=True
        )
        body = orjson.dumps(codec(fmt).encode_request(ir))
    timeouts = (
        _timeouts(settings.upstream_connect_timeout, channel.timeout) if channel.timeout else None
    )
    key = channel.next_key()
    target = channel.cached(
        f"target {upstream_model} {call.stream} {key}",
        lambda: post_target(
            adapter.chat_url(channel.base_url, upstream_model, stream=call.stream),
            adapter.headers(key),
        ),
    )
    return Attempt(channel=channel, target=target, body=body, timeouts=timeouts)


@functools.lru_cache(maxsize=64)
def _timeouts(connect: float, read: float) -> Timeouts:
    return Timeouts(connect=connect, read=read)


def _same_format_body(call: ChatCall, upstream_model: str) -> bytes:
    """The client's bytes, re-encoded only when something must change: the model name
    (Gemini carries it in the URL), and OpenAI streams always ask for usage."""
    if call.client == "gemini":
        return call.body
    needs_usage = call.client == "openai" and call.stream and not call.wants_usage
    if upstream_model == call.model and not needs_usage:
        return call.body
    if upstream_model == call.model and "stream_options" not in call.payload:
        # Append the field to the client's bytes rather than re-encode the whole body.
        body = call.body.rstrip()
        if body.endswith(b"}"):
            return body[:-1] + b',"stream_options":{"include_usage":true}}'
    changed = dict(call.payload)
    changed["model"] = upstream_model
    if needs_usage:
        options = call.payload.get("stream_options") or {}
        changed["stream_options"] = {**options, "include_usage": True}
    return orjson.dumps(changed)


def _whole(call: ChatCall, result: Completed, meter: Meter) -> Whole:
    fmt = wire_format(result.channel)
    upstream_model = result.channel.upstream_model(call.model)
    content_type = result.content_type.split(";")[0] or "application/json"
    if result.status != 200:
        meter.release()
        if fmt == call.client:
            return Whole(result.status, result.body, content_type)
        message = upstream_error_message(result.body, result.channel)
        error = codec(call.client).error_body(result.status, message, None)
        return Whole(result.status, orjson.dumps(error), "application/json")
    usage: Usage | None
    if fmt == call.client:
        body, usage = whole_usage(fmt, result.body, upstream_model, call.model)
        text = ""
    else:
        try:
            answer = codec(fmt).decode_response(orjson.loads(result.body))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            meter.release()
            message = f"upstream answered in an unexpected shape: {type(exc).__name__}"
            error = codec(call.client).error_body(502, message, None)
            return Whole(502, orjson.dumps(error), "application/json")
        answer.model = call.model
        body = orjson.dumps(codec(call.client).encode_response(answer))
        usage = answer.usage
        text = "" if usage else answer_text(answer)
    if usage is None:
        if not text and fmt == call.client:
            text = answer_text(codec(fmt).decode_response(orjson.loads(result.body)))
        usage = estimated_usage(call, text)
    meter.settle(usage, channel_id=result.channel.id)
    return Whole(200, body, "application/json")


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
