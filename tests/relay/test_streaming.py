"""The translator reads an SSE upstream in raw blocks, runs of framed text deltas at once
(``TextFrames.run``, the encoders' ``encode_plain``): what the client gets, what it is
billed on and how the stream ends must be exactly what reading event by event gives, for
texts written every way and the stream cut anywhere."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.client_framing import client_framer
from airelay.formats.framing import deframer
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.formats.registry import wire
from airelay.formats.text_frames import TextFrames
from airelay.relay.call import Call
from airelay.relay.scrub import StreamScrubber
from airelay.relay.streaming import Translator

# Texts as an upstream may write them inside the JSON string: as orjson writes them, with
# escapes, with bytes no JSON string holds (a raw quote or line feed, broken UTF-8).
_TEXTS = st.one_of(
    st.text(min_size=1, max_size=8).map(lambda t: orjson.dumps(t)[1:-1]),
    st.sampled_from(
        [b"tok ", b"\xc3\xa9t\xc3\xa9", b"\\n", b'\\"', b"a\nb", b"\xc3", b"\xa9t", b"", b'"']
    ),
)


def _openai_stream(texts: list[bytes]) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
        return b"data: " + orjson.dumps(body) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": "@@"}).replace(b'"@@"', b'"' + t + b'"') for t in texts]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 3, "completion_tokens": len(texts), "total_tokens": 3 + len(texts)}
    events.append(b"data: " + orjson.dumps({"id": "c1", "choices": [], "usage": usage}) + b"\n\n")
    return [*events, b"data: [DONE]\n\n"]


_END = {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}


def _anthropic_stream(texts: list[bytes]) -> list[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data})

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}
    delta = {"index": 0, "delta": {"type": "text_delta", "text": "@@"}}
    events = [
        event("message_start", {"message": {**message, "usage": {"input_tokens": 3}}}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
        *[event("content_block_delta", delta).replace(b'"@@"', b'"' + t + b'"') for t in texts],
        event("content_block_stop", {"index": 0}),
        event("message_delta", _END),
        event("message_stop", {}),
    ]
    return [e + b"\n\n" for e in events]


_PAIRS = [
    (WireFormat.ANTHROPIC, WireFormat.OPENAI, _openai_stream),
    (WireFormat.RESPONSES, WireFormat.OPENAI, _openai_stream),
    (WireFormat.OPENAI, WireFormat.ANTHROPIC, _anthropic_stream),
]


def _translator(client: WireFormat, channel: WireFormat, *, sse: bool) -> Translator:
    body = {"model": "m", "stream": True, "max_tokens": 50}
    if client is WireFormat.RESPONSES:
        body = {"model": "m", "stream": True, "input": "hi", "store": False}
    else:
        body["messages"] = [{"role": "user", "content": "hi"}]
    call = Call(
        client=client,
        endpoint=Endpoint.CHAT,
        model="m",
        stream=True,
        body=orjson.dumps(body),
        payload=body,
        ir=None,
        path="/x",
        request_id="r",
    )
    framer = client_framer(wire(client).sse, Framing.SSE)
    scrubber = StreamScrubber(["sk-upstream"], "http://127.0.0.1:1/v1")
    return Translator(call, channel, framer, scrubber, deframer(Framing.SSE), "ch", sse=sse)


def _run(translator: Translator, pieces: list[bytes]) -> tuple[bytes, bool, str, Any]:
    out = b"".join(translator.feed(piece) for piece in pieces)
    rest, finished = translator.end()
    out += rest + translator.close(None)
    return out, finished, translator.text(), translator.usage


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_PAIRS),
    st.lists(_TEXTS, min_size=1, max_size=12),
    st.lists(st.integers(0, 4000), max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_blocks_translate_as_events_do(
    pair: Any, texts: list[bytes], cuts: list[int], whole: bool, opening: bool
) -> None:
    """``opening``: an OpenAI stream opens with a role chunk, or with its first text."""
    client, channel, stream = pair
    events = stream(texts)
    data = b"".join(events if opening or channel is not WireFormat.OPENAI else events[1:])
    pieces = [data] if whole else _cut(data, cuts)
    by_blocks = _run(_translator(client, channel, sse=True), pieces)
    by_events = _run(_translator(client, channel, sse=False), pieces)
    assert by_blocks == by_events


@pytest.mark.parametrize("role_chunk", [True, False])
def test_a_burst_of_deltas_is_read_as_runs(
    monkeypatch: pytest.MonkeyPatch, role_chunk: bool
) -> None:
    """The whole stream in one block: after the first delta (read alone, the frame learned
    from it, also where it starts the stream), the rest go out as runs; one with an escape
    splits its run."""
    runs: list[int] = []
    read = TextFrames.run

    def spied(self: TextFrames, block: bytes) -> tuple[list[bytes], str, int] | None:
        run = read(self, block)
        if run is not None:
            runs.append(len(run[0]))
        return run

    monkeypatch.setattr(TextFrames, "run", spied)
    texts = [b"tok%d " % i for i in range(30)]
    texts[20] = b"line\\n"
    events = _openai_stream(texts)
    data = b"".join(events if role_chunk else events[1:])  # the first chunk: a role, or text
    translator = _translator(WireFormat.ANTHROPIC, WireFormat.OPENAI, sse=True)
    out, finished, text, usage = _run(translator, [data])
    assert runs == [19, 9]  # texts 1-19 (0 starts the frame), 20 alone, then 21-29
    assert finished and usage is not None and usage.completion_tokens == 30
    assert text == "".join(t.decode() for t in texts).replace("\\n", "\n")
    assert out.count(b"event: content_block_delta") == 30
    assert out == _run(_translator(WireFormat.ANTHROPIC, WireFormat.OPENAI, sse=False), [data])[0]
