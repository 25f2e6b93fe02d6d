"""Text deltas read by their frame must be exactly what parsing and decoding them reads:
for any text (escapes, control bytes, quotes, non-ASCII, invalid UTF-8), the frame either
gives the decoder's very delta or declines (and the event is parsed)."""

from __future__ import annotations

from typing import Any

import orjson
from formats.ir_strategies import chat_responses
from formats.streams import response_to_events
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.anthropic_stream import AnthropicStreamDecoder, AnthropicStreamEncoder
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
)
from airelay.formats.openai_stream import OpenAIStreamDecoder, OpenAIStreamEncoder
from airelay.formats.responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from airelay.formats.text_frames import TextFrames, _split


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
        assert [TextDelta(framed, frames.choice)] == expected
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
        assert frames.text("content_block_delta", _anthropic(f"tok{i} ")) == f"tok{i} "
    assert frames.text("content_block_delta", _anthropic("")) is None  # decodes to nothing


_ENCODERS = [AnthropicStreamEncoder, OpenAIStreamEncoder, ResponsesStreamEncoder]
# A stream's events (a failure midway or not) for two encoders of one type.
_ENCODED_STREAMS = given(
    chat_responses(max_choices=2, signature=True),
    st.integers(1, 4),
    st.sampled_from(_ENCODERS),
    st.booleans(),
)


def _two_encoders(
    response: ChatResponse, pieces: int, encoder_type: Any, fail: bool
) -> tuple[Any, Any, list[StreamEvent]]:
    """Two encoders of ``encoder_type`` and the events of ``response``; with ``fail``, a
    failure midway (what follows it is written as nothing)."""
    request = ChatRequest("m", [Message("user", [Text("x")])], include_usage=True)
    events = response_to_events(response, pieces=pieces)
    if fail:
        events.insert(len(events) // 2, StreamError("upstream failed"))
    return encoder_type(request), encoder_type(request), events


@settings(max_examples=150, deadline=None)
@_ENCODED_STREAMS
def test_encode_text_writes_what_encoding_the_delta_writes(
    response: ChatResponse, pieces: int, encoder_type: Any, fail: bool
) -> None:
    """The encoders' ``encode_text`` (what frames are written with) is ``encode`` of the
    text delta, in whatever state the stream is (before its start, after its close)."""
    by_event, by_text, events = _two_encoders(response, pieces, encoder_type, fail)
    for event in events:
        expected = by_event.encode(event)
        if type(event) is TextDelta:
            assert by_text.encode_text(event.text, event.choice) == expected
        else:
            assert by_text.encode(event) == expected
    assert by_text.close() == by_event.close()
    assert by_text.encode_text("more", 0) == by_event.encode(TextDelta("more"))


@settings(max_examples=150, deadline=None)
@_ENCODED_STREAMS
def test_encode_plain_writes_what_encoding_each_delta_writes(
    response: ChatResponse, pieces: int, encoder_type: Any, fail: bool
) -> None:
    """``encode_plain`` (a run of framed deltas at once) is ``encode`` of each delta, or
    None where the encoder is not in its usual state; then nothing is written."""
    by_event, by_run, events = _two_encoders(response, pieces, encoder_type, fail)
    run: list[TextDelta] = []

    def flush() -> None:
        plain = [orjson.dumps(d.text)[1:-1] for d in run]
        expected = b"".join(by_event.encode(d) for d in run)
        if run and all(plain) and len({d.choice for d in run}) == 1:
            text = "".join(d.text for d in run)
            written = by_run.encode_plain(plain, text, run[0].choice)
            if written is None:
                written = b"".join(by_run.encode_text(d.text, d.choice) for d in run)
            assert written == expected
        else:
            assert b"".join(by_run.encode(d) for d in run) == expected
        run.clear()

    for event in events:
        if type(event) is TextDelta and (not run or run[0].choice == event.choice):
            run.append(event)
            continue
        flush()
        if type(event) is TextDelta:
            run.append(event)
        else:
            assert by_run.encode(event) == by_event.encode(event)
    flush()
    assert by_run.close() == by_event.close()


# A separator as long as an OpenAI chunk's frame, with its own last bytes repeated inside
# it and a piece of it that texts may hold, so the short needle often lies.
_LONG_SEP = b'"}}]}\n\ndata: {"id":"c","x":"' + b"y" * 90 + b'","choices":[{"delta":{"content":"'


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from([_LONG_SEP[-12:], _LONG_SEP[-20:], _LONG_SEP[:-12], b"tok ", b"\n"]),
        ),
        max_size=40,
    ),
    st.integers(1, 3),
    st.booleans(),
)
def test_a_long_separator_splits_as_bytes_split_does(
    texts: list[bytes], repeat: int, seps: bool
) -> None:
    """The split on the separator's last bytes is kept only where it is the real split."""
    joined = (_LONG_SEP if seps else b"").join(texts * repeat)
    data = joined + b"x" * 3_500  # long enough for the short-needle split to be tried
    assert _split(data, _LONG_SEP) == data.split(_LONG_SEP)
    assert _split(data[:100], _LONG_SEP) == data[:100].split(_LONG_SEP)
