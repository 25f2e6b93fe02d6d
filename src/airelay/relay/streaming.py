"""A stream from the upstream to the client, passed through or translated event by event.

The relay writes to the client through a ``write`` callable (the surface's response) and
closes the upstream connection and settles the call however the stream ends: completed,
failed midway (a clean error event in the client's format ends it), or abandoned by the
client (a write fails, or the task is cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson

from airelay.client import UpstreamError
from airelay.formats import ir
from airelay.formats.registry import codec
from airelay.formats.sse import BlockAligner, event_bounds, parse_event, split_events
from airelay.formats.usage import Usage
from airelay.relay.call import ChatCall
from airelay.relay.estimate import answer_text, settle_on_estimate
from airelay.relay.failover import Streaming
from airelay.relay.metering import CLIENT_CLOSED, Meter
from airelay.relay.passthrough import (
    BLOCK,
    AnthropicRewriter,
    GeminiRewriter,
    OpenAIRewriter,
    Rewriter,
)
from airelay.relay.scrub import StreamScrubber

Write = Callable[[bytes], Awaitable[None]]


class _OverCap(Exception):
    """The stream went past the gateway's cap on its bytes."""


async def relay_stream(
    call: ChatCall,
    upstream: Streaming,
    meter: Meter,
    channel_fmt: str,
    write: Write,
    *,
    max_bytes: int,
    max_seconds: float,
) -> None:
    """Copy the stream to ``write`` (the client), then close the upstream and settle.

    A stream that goes on past ``max_bytes`` from the upstream or ``max_seconds`` in all
    ends with an error event, and is billed like one that failed midway."""
    same = channel_fmt == call.client
    channel = upstream.channel
    upstream_model = channel.upstream_model(call.model)
    # Every block that goes out loses the channel's keys; error events get the full scrub.
    scrubber = channel.cached(
        "stream scrubber", lambda: StreamScrubber(channel.api_keys, channel.base_url)
    )
    framer = Framer(call.client, call.json_array)
    rewriter = _rewriter(call, upstream_model) if same else None
    translator = None if same else Translator(call, channel_fmt, scrubber)
    # Raw blocks pass on as they came unless Gemini's JSON-array mode must re-frame them.
    fast = rewriter if rewriter is not None and not call.json_array else None
    aligner = BlockAligner()
    content = upstream.response
    status = CLIENT_CLOSED
    deadline = asyncio.timeout(max_seconds)  # one timer per stream
    received = 0
    try:
        try:
            async with deadline:
                chunk = upstream.first
                while chunk:
                    received += len(chunk)
                    if received > max_bytes:
                        raise _OverCap
                    block = aligner.feed(chunk)
                    if block:
                        if fast is not None:
                            out = _pass(block, fast, framer, scrubber)
                        else:
                            out = _handle(
                                split_events(block), rewriter, translator, framer, scrubber
                            )
                        if out:
                            await write(scrubber.block(out))
                    chunk = await content.readany()
                out = _handle(split_events(aligner.rest()), rewriter, translator, framer, scrubber)
                finished = framer.finished or (translator is not None and translator.finished)
                if translator is not None:
                    out += translator.close(framer)
                if out:
                    await write(scrubber.block(out))
                status = 200 if finished else 502
                if not finished:
                    await write(framer.error("upstream stream ended before completion"))
        except _OverCap:
            status = 502
            message = f"the stream passed the gateway's limit of {max_bytes} bytes"
            await write(framer.error(message))
        except (UpstreamError, TimeoutError) as exc:
            status = 502
            if deadline.expired():
                message = f"the stream passed the gateway's limit of {max_seconds:g} seconds"
            else:
                detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                message = scrubber.text(f"upstream stream failed: {detail}")
            await write(framer.error(message))
        tail = framer.close()
        if tail:
            await write(tail)
    except ConnectionError:
        status = CLIENT_CLOSED  # the client went away
    finally:
        upstream.close()
        usage = rewriter.usage if rewriter is not None else translator.usage if translator else None
        if usage is None:
            try:
                if translator is not None:
                    text = translator.text()
                else:
                    assert rewriter is not None
                    text = _kept_text(rewriter, channel_fmt)
            except Exception:  # never leave a call unsettled
                text = ""
            settle_on_estimate(meter, call, text, channel_id=upstream.channel.id, status=status)
        else:
            meter.settle(usage, channel_id=upstream.channel.id, status=status)


def _rewriter(call: ChatCall, upstream_model: str) -> Rewriter:
    if call.client == "openai":
        return OpenAIRewriter(upstream_model, call.model, strip_usage=not call.wants_usage)
    if call.client == "anthropic":
        return AnthropicRewriter(upstream_model, call.model)
    return GeminiRewriter()


def _pass(block: bytes, rewriter: Rewriter, framer: Framer, scrubber: StreamScrubber) -> bytes:
    """A block passed through: raw bytes, except the events holding a trigger (usage, the
    end of the stream, a possible error), which are read and rewritten one by one."""
    out: list[bytes] = []
    while block:
        positions = [p for p in map(block.find, rewriter.triggers) if p >= 0]
        if not positions:
            raw = rewriter.block(block)
            framer.scan(raw)
            out.append(raw)
            break
        start, end = event_bounds(block, min(positions))
        if start:
            raw = rewriter.block(block[:start])
            framer.scan(raw)
            out.append(raw)
        out.append(_handle(split_events(block[start:end]), rewriter, None, framer, scrubber))
        block = block[end:]
    return b"".join(out)


def _handle(
    events: list[bytes],
    rewriter: Rewriter | None,
    translator: Translator | None,
    framer: Framer,
    scrubber: StreamScrubber,
) -> bytes:
    out: list[bytes] = []
    for event in events:
        if not event:
            continue
        name, data = parse_event(event)
        if data is None:
            continue
        if translator is not None:
            out.append(translator.feed(name, data, framer))
            continue
        assert rewriter is not None
        rewritten = rewriter.rewrite(name, scrubber.error_event(name, data))
        if rewritten is not None:
            out.append(framer.frame(name, rewritten))
    return b"".join(out)


class Framer:
    """Frames pass-through events for the client and knows when its stream is complete."""

    def __init__(self, client: str, json_array: bool) -> None:
        self.client = client
        self.json_array = json_array
        self.finished = False
        self._elements = 0

    def frame(self, name: str | None, data: bytes) -> bytes:
        if self.client == "openai":
            if data == b"[DONE]":
                self.finished = True
            return b"data: " + data + b"\n\n"
        if self.client == "anthropic":
            if name == "message_stop":
                self.finished = True
            return b"event: " + (name or "message").encode() + b"\ndata: " + data + b"\n\n"
        if b'"finishReason"' in data:
            self.finished = True
        if self.json_array:
            prefix = b"[" if self._elements == 0 else b",\r\n"
            self._elements += 1
            return prefix + data
        return b"data: " + data + b"\r\n\r\n"

    def scan(self, raw: bytes) -> None:
        """Notes the end of a stream in a raw pass-through block."""
        if self.client == "openai":
            self.finished = self.finished or b"[DONE]" in raw
        elif self.client == "anthropic":
            self.finished = self.finished or b"message_stop" in raw
        else:
            self.finished = self.finished or b'"finishReason"' in raw

    def reframe_sse(self, sse: bytes) -> bytes:
        """Encoder output for the client; Gemini's JSON-array mode takes the data only."""
        if not (self.client == "gemini" and self.json_array) or not sse:
            return sse
        out: list[bytes] = []
        for event in sse.replace(b"\r\n", b"\n").split(b"\n\n"):
            _, data = parse_event(event.strip())
            if data:
                out.append(self.frame(None, data))
        return b"".join(out)

    def error(self, message: str) -> bytes:
        body = orjson.dumps(codec(self.client).error_body(502, message, None))
        if self.client == "anthropic":
            return b"event: error\ndata: " + body + b"\n\n"
        if self.client == "gemini":
            return self.frame(None, body) if self.json_array else b"data: " + body + b"\r\n\r\n"
        return b"data: " + body + b"\n\n"

    def close(self) -> bytes:
        if self.client == "gemini" and self.json_array:
            return b"]" if self._elements else b"[]"
        return b""


class Translator:
    """Upstream events of another format -> IR -> the client's format."""

    def __init__(self, call: ChatCall, channel_fmt: str, scrubber: StreamScrubber) -> None:
        self._decoder = codec(channel_fmt).stream_decoder()
        self._scrubber = scrubber
        self._encoder = codec(call.client).stream_encoder(call.request_ir())
        self._model = call.model
        self.usage: Usage | None = None
        self.finished = False
        self._text: list[str] = []

    def feed(self, name: str | None, data: bytes, framer: Framer) -> bytes:
        if data == b"[DONE]":
            return b""
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        return self._encode(self._decoder.feed(name, parsed), framer)

    def close(self, framer: Framer) -> bytes:
        out = self._encode(self._decoder.close(), framer)
        if self.finished:
            out += framer.reframe_sse(self._encoder.close())
        return out

    def _encode(self, events: list[ir.StreamEvent], framer: Framer) -> bytes:
        out: list[bytes] = []
        for event in events:
            if isinstance(event, ir.StreamStart):
                event.model = self._model
            elif isinstance(event, ir.UsageReport):
                self.usage = event.usage
            elif isinstance(event, ir.Finish):
                self.finished = True
            elif isinstance(event, ir.TextDelta | ir.ReasoningDelta):
                self._text.append(event.text)
            elif isinstance(event, ir.ToolCallDelta):
                self._text.append(event.arguments)
            elif isinstance(event, ir.StreamError):
                event.message = self._scrubber.text(event.message)
            out.append(framer.reframe_sse(self._encoder.encode(event)))
        return b"".join(out)

    def text(self) -> str:
        return "".join(self._text)


def _kept_text(rewriter: Rewriter, fmt: str) -> str:
    """The text a passed-through stream produced, from what it kept (blocks and events)."""
    decoder = codec(fmt).stream_decoder()
    assembler = ir.Assembler()
    for name, raw in rewriter.kept:
        events = (
            [parse_event(event) for event in split_events(raw)] if name == BLOCK else [(name, raw)]
        )
        for event_name, data in events:
            if data is None or data == b"[DONE]":
                continue
            try:
                for event in decoder.feed(event_name, orjson.loads(data)):
                    assembler.feed(event)
            except (orjson.JSONDecodeError, ValueError, LookupError, TypeError):
                continue
    return answer_text(assembler.response)
