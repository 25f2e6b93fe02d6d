"""A stream from the upstream to the client, passed through or translated event by event.

The relay writes to the client through a ``write`` callable (the surface's response) and
closes the upstream connection and settles the call however the stream ends: completed,
failed midway (a clean error event in the client's format ends it), or abandoned by the
client (a write fails, or the task is cancelled).

Nothing here knows a wire format: the upstream's framing (``upstream.framing``) picks the
deframer, the client's wire its framer, error event and completion test, and a pass-through
(``PassThrough``, same format) or a ``Translator`` (another format, through the IR) does
the rest. An SSE upstream passed through to an SSE client goes the fast path: raw blocks.

The usage the client is told is the usage billed. When a complete stream brought none, the
handler holds its last event(s) back (``end``), the usage is counted offline
(``estimate_usage``: at once for short texts, in a thread for long ones) and the held end
goes out carrying it (``close``); that same usage is then settled. A stream that did bring
usage never waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson

from airelay import ticks
from airelay.client import UpstreamError
from airelay.formats import ir
from airelay.formats.client_framing import ClientFramer, client_framer
from airelay.formats.framing import FAILURE, Deframer, Event, FramingError, deframer, sse_events
from airelay.formats.names import Framing, WireFormat
from airelay.formats.registry import wire
from airelay.formats.sse import BlockAligner
from airelay.formats.text_frames import TextFrames
from airelay.formats.usage import Usage
from airelay.observe.metrics import INFLIGHT
from airelay.relay.call import Call
from airelay.relay.estimate import estimate_usage, settle_on_estimate
from airelay.relay.failover import Streaming
from airelay.relay.metering import CLIENT_CLOSED, Meter
from airelay.relay.passthrough import PassThrough
from airelay.relay.scrub import StreamScrubber

Write = Callable[[bytes], Awaitable[None]]


class _OverCap(Exception):
    """The stream went past the gateway's cap on its bytes."""


class _Failed(Exception):
    """The upstream reported a failure in the stream's framing, or broke the framing."""


class _Handler(Protocol):
    """What turns upstream events into client bytes: ``PassThrough`` or ``Translator``."""

    finished: bool
    failure: str | None

    @property
    def usage(self) -> Usage | None: ...
    @property
    def end_out(self) -> bool: ...  # the stream's end, in the client's format, is given out
    def feed(self, chunk: bytes) -> bytes: ...
    def end(self) -> tuple[bytes, bool]: ...
    def close(self, billed: Usage | None) -> bytes: ...
    def text(self) -> str: ...


async def relay_stream(
    call: Call,
    upstream: Streaming,
    meter: Meter,
    channel_fmt: WireFormat,
    write: Write,
    *,
    max_bytes: int,
    max_seconds: float,
    last: Write | None = None,
) -> None:
    """Copy the stream to ``write`` (the client), then close the upstream and settle.

    What the upstream sent at once goes out at once: the bytes for the pieces already
    arrived are held until the stream must wait for more, and written together (one write
    to the client's socket rather than one per piece). ``last``, when given, writes the
    final bytes and ends the response in that same write.

    A stream that goes on past ``max_bytes`` from the upstream or ``max_seconds`` in all
    ends with an error event, and is billed like one that failed midway."""
    channel = upstream.channel
    client = wire(call.client)
    # Every block that goes out loses the channel's keys; error events get the full scrub.
    scrubber = channel.cached(
        "stream scrubber", lambda: StreamScrubber(channel.api_keys, channel.base_url)
    )
    framer = client_framer(client.sse, call.framing)
    handler: _Handler
    if channel_fmt == call.client:
        rewriter = client.rewriter(call, channel.upstream_model(call.model))
        # An SSE upstream to an SSE client: raw blocks pass on as they came (reader None).
        reader = None if framer.passes(upstream.framing) else deframer(upstream.framing)
        handler = PassThrough(client, rewriter, framer, scrubber, reader)
    else:
        handler = Translator(
            call,
            channel_fmt,
            framer,
            scrubber,
            deframer(upstream.framing),
            channel.id,
            sse=upstream.framing is Framing.SSE,
        )
    content = upstream.response
    status = CLIENT_CLOSED
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    assert task is not None
    deadline = ticks.TaskDeadline(loop, task, max_seconds)  # a coarse timer per stream
    received = 0
    billed: Usage | None = None  # what the client was told, when the upstream told nothing
    held: list[bytes] = []  # scrubbed bytes not written yet

    async def flush() -> None:
        if held:
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            await write(data)

    def error(message: str) -> None:
        held.append(framer.frame(*client.error_event(message)))

    INFLIGHT.inc()
    try:
        try:
            chunk = upstream.first
            while chunk:
                received += len(chunk)
                if received > max_bytes:
                    raise _OverCap
                out = handler.feed(chunk)
                if out:
                    held.append(scrubber.block(out))
                if handler.failure is not None:
                    raise _Failed(handler.failure)
                if not content.ready:
                    await flush()
                chunk = await content.readany()
            out, finished = handler.end()
            if out:
                held.append(scrubber.block(out))
            if handler.failure is not None:
                raise _Failed(handler.failure)
            if finished and handler.usage is None:
                await flush()  # the client has what came before the estimate
                billed = await estimate_usage(call, handler.text())
            out = handler.close(billed)
            if out:
                held.append(scrubber.block(out))
            status = 200 if finished else 502
            if not finished:
                error("upstream stream ended before completion")
        except _OverCap:
            status = 502
            error(f"the stream passed the gateway's limit of {max_bytes} bytes")
        except (_Failed, FramingError) as failed:
            status = 502
            error(scrubber.text(f"upstream stream failed: {failed}"))
        except asyncio.CancelledError:
            if not deadline.caught():
                raise
            status = 502
            error(f"the stream passed the gateway's limit of {max_seconds:g} seconds")
        except (UpstreamError, TimeoutError) as exc:
            status = 502
            detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            error(scrubber.text(f"upstream stream failed: {detail}"))
        finally:
            deadline.stop()
        tail = framer.close()
        if tail:
            held.append(tail)
        if last is None:
            await flush()
        else:
            data = b"".join(held)
            held.clear()
            await last(data)
    except ConnectionError:
        status = CLIENT_CLOSED  # the client went away
    except asyncio.CancelledError:
        # A client that left once the stream's end was handed to its socket had the whole
        # stream (a client may close on the end mark, before the response's own end).
        if handler.end_out and not held:
            status = 200
        raise
    finally:
        INFLIGHT.dec()
        upstream.close()
        usage = handler.usage or billed
        if usage is None:
            try:
                text = handler.text()
            except Exception:  # never leave a call unsettled
                text = ""
            settle_on_estimate(meter, call, text, channel_id=upstream.channel.id, status=status)
        else:
            meter.settle(usage, channel_id=upstream.channel.id, status=status)


# Events read one at a time at a stream's start, so that the frame its first text delta
# shows can read the text deltas right after it in the same block.
_LEARNING_EVENTS = 8
# Runs of text deltas tried per block: a block whose deltas often need escapes (or are not
# in the frame) is not searched again and again; the rest of it is read event by event.
_RUNS_PER_BLOCK = 8


class Translator:
    """Upstream events of another format -> IR -> the client's format.

    An SSE upstream's stream is read in raw blocks of whole events: runs of text deltas in
    their frame are read and written in one go (``TextFrames.run``, the encoder's
    ``encode_plain``), the other events one by one."""

    def __init__(
        self,
        call: Call,
        channel_fmt: WireFormat,
        framer: ClientFramer,
        scrubber: StreamScrubber,
        reader: Deframer,
        channel_id: str = "",
        *,
        sse: bool = False,
    ) -> None:
        self._reader = reader
        self._decoder = wire(channel_fmt).codec.stream_decoder()
        # The bulk of the stream, text deltas, read by their frame where the decoder allows.
        framed = getattr(self._decoder, "text_frame", None)
        self._frames = None if framed is None else TextFrames(framed)
        self._aligner = BlockAligner() if sse and self._frames is not None else None
        self._learning = _LEARNING_EVENTS
        # Data of the format's that is no JSON (an end marker): skipped without parsing.
        self._unparsed: tuple[bytes, ...] = getattr(self._decoder, "unparsed", ())
        # Reasoning signatures go to the client sealed.
        self._seal = (
            None if call.thinking is None else call.thinking.sealing(channel_fmt, channel_id)
        )
        self._encoder = wire(call.client).codec.stream_encoder(call.request_ir())
        self._encode_text = getattr(self._encoder, "encode_text", None) or self._text_event
        self._encode_plain: Callable[[list[bytes], str, int], bytes | None] | None = getattr(
            self._encoder, "encode_plain", None
        )
        self._framer = framer
        self._scrubber = scrubber
        self._model = call.model
        self.usage: Usage | None = None
        self.finished = False
        self.failure: str | None = None
        self.end_out = False  # the encoder's closing events are given out by ``close``
        self._text: list[str] = []
        self._closable = False

    def feed(self, chunk: bytes) -> bytes:
        if self._aligner is None:
            return self._events(self._reader.feed(chunk))
        block = self._aligner.feed(chunk)
        return self._block(block) if block else b""

    def end(self) -> tuple[bytes, bool]:
        """All but the encoder's closing events (which carry the usage): ``close`` writes
        those."""
        if self._aligner is None:
            out = self._events(self._reader.close())
        else:
            # An event the stream ended without a blank line after is still whole.
            out = self._events(sse_events(self._aligner.rest()))
        finished = self.finished  # before the decoder's close, which may owe a Finish
        out += self._encode(self._decoder.close())
        self._closable = self.finished
        return out, finished

    def close(self, billed: Usage | None) -> bytes:
        """The encoder's closing events, with ``billed`` as the usage when the upstream
        reported none."""
        if not self._closable:
            return b""
        self._closable = False
        self.end_out = True
        out = b""
        if self.usage is None and billed is not None:
            out = self._encoder.encode(ir.UsageReport(billed))
        return self._framer.encoded(out + self._encoder.close())

    def _block(self, block: bytes) -> bytes:
        """A raw block of whole SSE events: runs of text deltas in the frame at once, the
        events around them one by one (the first few of a stream one at a time, until a
        frame is known)."""
        frames = self._frames
        assert frames is not None
        out: list[bytes] = []
        runs = _RUNS_PER_BLOCK
        while block and self.failure is None:
            if frames.known and runs:
                runs -= 1
                run = frames.run(block)
                if run is not None:
                    texts, text, end = run
                    self._text.append(text)
                    out.append(self._plain(texts, text, frames.choice))
                    block = block[end:]
                    continue
                # Up to where the next run may start (the event after a blank line).
                at = block.find(frames.next_start, 1)
                end = at + 2 if at >= 0 else len(block)
            elif self._learning > 0 and not frames.known and block.find(b"\r") < 0:
                self._learning -= 1
                end = block.find(b"\n\n") + 2
                end = end if end >= 2 else len(block)
            else:
                end = len(block)
            self._events_into(sse_events(block[:end]), out)
            block = block[end:]
        # Whole SSE events in, so framing the block at once frames each event as alone.
        return self._framer.encoded(b"".join(out)) if out else b""

    def _plain(self, texts: list[bytes], text: str, choice: int) -> bytes:
        if self._encode_plain is not None:
            encoded = self._encode_plain(texts, text, choice)
            if encoded is not None:
                return encoded
        encode = self._encode_text
        return b"".join([encode(piece.decode(), choice) for piece in texts])

    def _events(self, events: list[Event]) -> bytes:
        """All the events of one upstream block, each decoded and encoded, as one output."""
        out: list[bytes] = []
        self._events_into(events, out)
        # Whole SSE events in, so framing the block at once frames each event as alone.
        return self._framer.encoded(b"".join(out)) if out else b""

    def _events_into(self, events: list[Event], out: list[bytes]) -> None:
        decode = self._decoder.feed
        frames = self._frames
        for name, data in events:
            if frames is not None:
                text = frames.text(name, data)
                if text is not None:  # the bulk of a stream
                    self._text.append(text)
                    out.append(self._encode_text(text, frames.choice))
                    continue
            if name == FAILURE:
                self.failure = data.decode("utf-8", "replace")
                break
            if data in self._unparsed:
                continue
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # not an event of the format's (an end marker)
            decoded = decode(name, parsed)
            if frames is not None:
                frames.learn(name, data, parsed, decoded)
            self._encode_into(decoded, out)

    def _text_event(self, text: str, choice: int) -> bytes:
        return self._encoder.encode(ir.TextDelta(text, choice))

    def _encode(self, events: list[ir.StreamEvent]) -> bytes:
        out: list[bytes] = []
        self._encode_into(events, out)
        return self._framer.encoded(b"".join(out))

    def _encode_into(self, events: list[ir.StreamEvent], out: list[bytes]) -> None:
        encode = self._encoder.encode
        text = self._text
        # Exact types, most frequent first: IR events are final dataclasses.
        for event in events:
            if type(event) is ir.TextDelta:
                text.append(event.text)
            elif type(event) is ir.ReasoningDelta:
                text.append(event.text)
                if self._seal is not None:
                    event = self._seal(event)
            elif type(event) is ir.ToolCallDelta:
                text.append(event.arguments)
            elif type(event) is ir.StreamStart:
                event.model = self._model
            elif type(event) is ir.UsageReport:
                self.usage = event.usage
            elif type(event) is ir.Finish:
                self.finished = True
            elif type(event) is ir.StreamError:
                event.message = self._scrubber.text(event.message)
            out.append(encode(event))

    def text(self) -> str:
        return "".join(self._text)
