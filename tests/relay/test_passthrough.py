"""The pass-through of a same-format stream: raw blocks go out as they came, a stream is
complete only at its format's real end however the chunks are cut, and the usage and the
produced text are read on the way."""

from __future__ import annotations

import orjson
from fakes.chat_streams import NO_USAGE_STREAMS, STREAMS, TEXT, WORDS
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats import ir
from airelay.formats.client_framing import client_framer
from airelay.formats.framing import deframer
from airelay.formats.names import CHAT_FORMATS, Framing, WireFormat
from airelay.formats.registry import wire
from airelay.formats.text import answer_text
from airelay.formats.usage import Usage
from airelay.relay.passthrough import PassThrough
from airelay.relay.scrub import StreamScrubber


class Call:
    model = "m"
    stream = True
    wants_usage = True
    payload: dict[str, object] = {}
    body = b"{}"

    def request_ir(self) -> object:
        raise AssertionError("a pass-through does not decode the request")


def _run(
    fmt: WireFormat, stream: bytes, cuts: list[int], raw: bool
) -> tuple[bytes, bool, PassThrough]:
    client = wire(fmt)
    framer = client_framer(client.sse, Framing.SSE)
    reader = None if raw else deframer(Framing.SSE)
    rewriter = client.rewriter(Call(), "m")  # type: ignore[arg-type]
    handler = PassThrough(client, rewriter, framer, StreamScrubber(["sk-x"], "http://u"), reader)
    out, last = [], 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        out.append(handler.feed(stream[last:cut]))
        last = cut
    tail, finished = handler.end()
    return b"".join(out) + tail, finished, handler


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list(CHAT_FORMATS)),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 3000), max_size=8),
)
def test_complete_only_at_the_real_end(
    fmt: WireFormat, cut: bool, raw: bool, cuts: list[int]
) -> None:
    stream = b"".join(STREAMS[fmt]("m", cut=cut))
    out, finished, handler = _run(fmt, stream, cuts, raw)
    assert finished is not cut
    assert handler.failure is None
    if raw:
        assert out == stream  # nothing to rename or scrub: the bytes as they came
    if cut:
        assert handler.usage is None
        assert TEXT.split()[0] in handler.text()
    else:
        assert handler.usage == Usage(prompt_tokens=7, completion_tokens=11)


def test_fast_path_passes_a_block_without_triggers_as_the_same_object() -> None:
    block = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    client = wire(WireFormat.OPENAI)
    handler = PassThrough(
        client,
        client.rewriter(Call(), "m"),  # type: ignore[arg-type]
        client_framer(client.sse, Framing.SSE),
        StreamScrubber([], "http://u"),
        None,
    )
    assert handler.feed(block) is block
    assert not handler.finished
    # No usage came: the end waits for the usage the gateway bills (none given here).
    assert handler.feed(b"data: [DONE]\n\n") == b"" and handler.finished
    assert handler.close(None) == b"data: [DONE]\n\n"
    assert orjson.loads(block[6:])["choices"][0]["delta"]["content"] == "hi"


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list(CHAT_FORMATS)),
    st.booleans(),
    st.lists(st.integers(0, 3000), max_size=8),
)
def test_a_stream_without_usage_ends_with_the_billed_usage(
    fmt: WireFormat, raw: bool, cuts: list[int]
) -> None:
    """However the chunks are cut, the end waits for the gateway's count and then carries
    it where the format's own decoder reads usage; nothing else changes."""
    stream = b"".join(NO_USAGE_STREAMS[fmt]("m"))
    out, finished, handler = _run(fmt, stream, cuts, raw)
    assert finished and handler.usage is None
    billed = Usage(prompt_tokens=13, completion_tokens=29)
    whole = out + handler.close(billed)
    decoder = wire(fmt).codec.stream_decoder()
    assembler = ir.Assembler()
    for name, data in deframer(Framing.SSE).feed(whole):
        for event in decoder.feed(name, orjson.loads(data) if data != b"[DONE]" else None):
            assembler.feed(event)
    for event in decoder.close():
        assembler.feed(event)
    assert assembler.response.usage == billed
    assert answer_text(assembler.response) == WORDS
    assert assembler.response.choices[0].finish_reason == "stop"
    assert handler.close(billed) == b""  # once
