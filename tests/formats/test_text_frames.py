"""Text deltas read by their frame must be exactly what parsing and decoding them reads:
for any text (escapes, control bytes, quotes, non-ASCII, invalid UTF-8), the frame either
gives the decoder's very delta or declines (and the event is parsed)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.anthropic_stream import AnthropicStreamDecoder
from airelay.formats.ir import StreamEvent, TextDelta
from airelay.formats.openai_stream import OpenAIStreamDecoder
from airelay.formats.responses_stream import ResponsesStreamDecoder
from airelay.formats.text_frames import TextFrames


def _anthropic(text: Any) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return orjson.dumps({"type": "content_block_delta", "index": 0, "delta": delta})


def _openai(text: Any) -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return orjson.dumps({"id": "c", "model": "m", "choices": [choice]})


def _responses(text: Any) -> bytes:
    return orjson.dumps({"type": "response.output_text.delta", "item_id": "i", "delta": text})


def _learned(decoder: Any, name: str | None, data: bytes) -> TextFrames:
    frames = TextFrames(decoder.text_frame)
    parsed = orjson.loads(data)
    frames.learn(name, data, parsed, decoder.feed(name, parsed))
    return frames


def _decoded(decoder: Any, name: str | None, data: bytes) -> list[StreamEvent]:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    return decoder.feed(name, parsed)  # type: ignore[no-any-return]


# Texts written every way: by orjson, with escapes another encoder would use, raw bytes.
_TEXTS = st.one_of(
    st.text(max_size=12).map(lambda t: orjson.dumps(t)[1:-1]),
    st.text(max_size=6).map(lambda t: t.encode("ascii", "backslashreplace")),
    st.binary(max_size=8),
    st.sampled_from([b"\\u00e9", b"\\/", b'\\"', b"\x01", b"\xff", b"a\nb", b"\\n", b"\xc3"]),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["anthropic", "openai", "responses"]), _TEXTS)
def test_a_framed_event_reads_as_decoding_it_does(fmt: str, raw: bytes) -> None:
    decoder: Any
    if fmt == "anthropic":
        decoder, name, write = AnthropicStreamDecoder(), "content_block_delta", _anthropic
    elif fmt == "openai":
        decoder, name, write = OpenAIStreamDecoder(), None, _openai
        decoder.feed(None, orjson.loads(_openai("first")))  # started
    else:
        decoder, name, write = ResponsesStreamDecoder(), "response.output_text.delta", _responses
    frames = _learned(decoder, name, write("hello"))
    # The event as an upstream might write it: the text's bytes spliced in as they are.
    data = write("@@").replace(b'"@@"', b'"' + raw + b'"')
    framed = frames.text(name, data)
    expected = _decoded(decoder, name, data)
    if framed is not None:
        assert [framed] == expected
    assert frames.text("other", data) is None


def test_a_frame_is_not_learned_from_a_block_start() -> None:
    """A content_block_start holding text records its block: it is always decoded."""
    decoder = AnthropicStreamDecoder()
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    data = orjson.dumps({**start, "content_block": {"type": "text", "text": "hi"}})
    frames = _learned(decoder, "content_block_start", data)
    assert frames.text("content_block_start", data.replace(b'"hi"', b'"yo"')) is None


def test_a_frame_is_not_learned_where_the_text_shows_twice_or_is_written_otherwise() -> None:
    """Where else the text's bytes show, the frame could be built around them, and an event
    differing there would be read as a delta of what differs."""
    decoder = OpenAIStreamDecoder()
    decoder.feed(None, orjson.loads(_openai("first")))
    twice = orjson.dumps({"id": "m", "model": "m", "choices": [{"delta": {"content": "m"}}]})
    other_id = twice.replace(b'{"id":"m"', b'{"id":"x"')
    assert _learned(decoder, None, twice).text(None, other_id) is None
    # The text escaped, and its unescaped bytes elsewhere.
    escaped = b'{"id":"\xc3\xa9","model":"m","choices":[{"delta":{"content":"\\u00e9"}}]}'
    assert orjson.loads(escaped)["choices"][0]["delta"]["content"] == "\u00e9"
    other_id = escaped.replace(b'{"id":"\xc3\xa9"', b'{"id":"x"')
    assert _learned(decoder, None, escaped).text(None, other_id) is None


def test_tool_call_chunks_are_not_framed() -> None:
    """A chunk with tool calls changes the decoder: its text is never read by frame."""
    decoder = OpenAIStreamDecoder()
    decoder.feed(None, orjson.loads(_openai("first")))
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}
    decoder.feed(None, {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    delta = {"content": "hi", "tool_calls": [{"index": 0}]}
    data = orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": delta}]})
    frames = _learned(decoder, None, data)
    assert frames.text(None, data.replace(b'"hi"', b'"yo"')) is None


def test_learned_frames_read_the_bulk_of_a_stream() -> None:
    decoder = AnthropicStreamDecoder()
    frames = _learned(decoder, "content_block_delta", _anthropic("tok0 "))
    for i in range(1, 5):
        assert frames.text("content_block_delta", _anthropic(f"tok{i} ")) == TextDelta(f"tok{i} ")
    assert frames.text("content_block_delta", _anthropic("")) is None  # decodes to nothing
