"""Each deframer gives the same events however the stream is cut into chunks: SSE, a
streamed JSON array, NDJSON and AWS event-stream, with strings that hold every byte the
framing gives meaning to (brackets, quotes, backslashes, newlines)."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import orjson
import pytest
from fakes import eventstream
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.framing import (
    FAILURE,
    Deframer,
    EventStreamDeframer,
    FramingError,
    JsonArrayDeframer,
    JsonArrayWriter,
    NdjsonDeframer,
    SseDeframer,
    deframer,
    is_json,
    json_framing,
    sse_events,
    stream_framing,
)
from airelay.formats.names import Framing
from airelay.formats.sse import parse_event, split_events

_TEXT = st.text(alphabet=st.sampled_from('ab []{},"\\\n\r:éx\u2028'), max_size=12)
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_OBJECT = st.dictionaries(_TEXT, _VALUE, max_size=4).map(lambda d: {"type": "e", **d})
_EVENTS = st.lists(_OBJECT, min_size=1, max_size=6)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


def _run(decoder: Deframer, pieces: list[bytes]) -> list[tuple[str | None, Any]]:
    events = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.close()
    return [(name, orjson.loads(data)) for name, data in events]


_CUTS = st.lists(st.integers(0, 4000), max_size=12)


@settings(max_examples=150, deadline=None)
@given(_EVENTS, _CUTS, st.booleans())
def test_sse(events: list[dict[str, Any]], cuts: list[int], crlf: bool) -> None:
    end = b"\r\n\r\n" if crlf else b"\n\n"
    nl = b"\r\n" if crlf else b"\n"
    stream = b"".join(
        b"event: e" + nl + b"data: " + orjson.dumps(event) + end + b": comment" + end
        for event in events
    )
    assert _run(SseDeframer(), _cut(stream, cuts)) == [("e", event) for event in events]


@settings(max_examples=200, deadline=None)
@given(_EVENTS, _CUTS, st.sampled_from([b",", b",\r\n", b" , "]), st.booleans())
def test_json_array(
    events: list[dict[str, Any]], cuts: list[int], separator: bytes, pretty: bool
) -> None:
    option = orjson.OPT_INDENT_2 if pretty else 0
    stream = b" [" + separator.join(orjson.dumps(e, option=option) for e in events) + b"]\n"
    assert _run(JsonArrayDeframer(), _cut(stream, cuts)) == [(None, e) for e in events]


@settings(max_examples=100, deadline=None)
@given(_EVENTS, _CUTS)
def test_json_array_writer_round_trip(events: list[dict[str, Any]], cuts: list[int]) -> None:
    writer = JsonArrayWriter()
    stream = b"".join(writer.element(orjson.dumps(e)) for e in events) + writer.close()
    assert orjson.loads(stream) == events
    assert _run(JsonArrayDeframer(), _cut(stream, cuts)) == [(None, e) for e in events]


def test_json_array_cut_short_holds_only_whole_elements() -> None:
    decoder = JsonArrayDeframer()
    assert decoder.feed(b'[{"a":"}]\\""},{"b":[1,') == [(None, b'{"a":"}]\\""}')]
    assert decoder.close() == []
    assert JsonArrayWriter().close() == b"[]"


def test_json_array_must_open_with_a_bracket() -> None:
    with pytest.raises(FramingError):
        JsonArrayDeframer().feed(b'{"a": 1}')


@settings(max_examples=100, deadline=None)
@given(_EVENTS, _CUTS, st.booleans())
def test_ndjson(events: list[dict[str, Any]], cuts: list[int], final_newline: bool) -> None:
    stream = b"\n".join(orjson.dumps(e) for e in events) + (b"\r\n\n" if final_newline else b"")
    assert _run(NdjsonDeframer(), _cut(stream, cuts)) == [(None, e) for e in events]


@settings(max_examples=150, deadline=None)
@given(_EVENTS, _CUTS)
def test_aws_eventstream_bedrock_chunks(events: list[dict[str, Any]], cuts: list[int]) -> None:
    stream = b"".join(eventstream.chunk(event) for event in events)
    assert _run(EventStreamDeframer(), _cut(stream, cuts)) == [("e", e) for e in events]


def test_aws_eventstream_plain_event_and_exception() -> None:
    plain = eventstream.message(
        {":event-type": "messageStart", ":message-type": "event"}, b'{"role":"assistant"}'
    )
    failure = eventstream.exception("throttlingException", "Too many requests")
    events = EventStreamDeframer().feed(plain + failure)
    assert events == [
        ("messageStart", b'{"role":"assistant"}'),
        (FAILURE, b"throttlingException: Too many requests"),
    ]


def test_aws_eventstream_reads_every_header_type() -> None:
    typed = (
        b"\x01a\x00"  # bool true
        + b"\x01b\x02\x07"  # byte
        + b"\x01c\x03\x00\x01"  # short
        + b"\x01d\x04"
        + bytes(4)  # int
        + b"\x01e\x05"
        + bytes(8)  # long
        + b"\x01f\x06\x00\x02xy"  # bytes
        + b"\x01g\x08"
        + bytes(8)  # timestamp
        + b"\x01h\x09"
        + bytes(16)  # uuid
        + b"\x0b:event-type\x07\x00\x04kind"
    )
    payload = b'{"x":1}'
    total = 12 + len(typed) + len(payload) + 4
    prelude = struct.pack("!II", total, len(typed))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + typed + payload
    message = head + struct.pack("!I", zlib.crc32(head))
    assert EventStreamDeframer().feed(message) == [("kind", payload)]


@pytest.mark.parametrize("where", ["prelude", "message"])
def test_aws_eventstream_checksum_mismatch(where: str) -> None:
    message = bytearray(eventstream.chunk({"type": "ping"}))
    message[9 if where == "prelude" else -1] ^= 0xFF
    with pytest.raises(FramingError):
        EventStreamDeframer().feed(bytes(message))


def test_aws_eventstream_chunk_that_is_not_json() -> None:
    payload = orjson.dumps({"bytes": base64.b64encode(b"not json").decode()})
    message = eventstream.message({":event-type": "chunk", ":message-type": "event"}, payload)
    with pytest.raises(FramingError):
        EventStreamDeframer().feed(message)


@pytest.mark.parametrize(
    ("content_type", "framing", "reader"),
    [
        ("text/event-stream; charset=utf-8", Framing.SSE, SseDeframer),
        ("application/x-ndjson", Framing.NDJSON, NdjsonDeframer),
        ("application/vnd.amazon.eventstream", Framing.AWS_EVENTSTREAM, EventStreamDeframer),
        ("application/json", None, None),
        ("text/plain", None, None),
    ],
)
def test_stream_framing_by_content_type(
    content_type: str, framing: Framing | None, reader: type | None
) -> None:
    assert stream_framing(content_type) == framing
    if framing is not None:
        assert type(deframer(framing)) is reader


def test_json_answer_is_an_array_stream_or_a_whole_answer() -> None:
    assert is_json("application/json; charset=UTF-8") and not is_json("text/html")
    assert json_framing(b" \r\n[{") is Framing.JSON_ARRAY
    assert json_framing(b'{"candidates": []}') is None
    assert isinstance(deframer(Framing.JSON_ARRAY), JsonArrayDeframer)


_SSE_LINE = st.one_of(
    st.builds(lambda s, v: f"event:{s}{v}", st.sampled_from(["", " ", "  "]), st.text(max_size=8)),
    st.builds(lambda s, v: f"data:{s}{v}", st.sampled_from(["", " ", "  "]), st.text(max_size=8)),
    st.sampled_from(["id: 7", ": keep-alive", "retry: 10", "event", "data", ""]),
).map(lambda line: line.replace("\n", " ").replace("\r", " ").encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_SSE_LINE, min_size=1, max_size=4), max_size=6), st.booleans())
def test_sse_events_read_every_event_as_parse_event_does(
    events: list[list[bytes]], crlf: bool
) -> None:
    """``sse_events`` reads the usual one- and two-line events without ``parse_event``:
    what it yields must be what ``parse_event`` yields for any event."""
    newline = b"\r\n" if crlf else b"\n"
    block = b"".join(newline.join(lines) + newline * 2 for lines in events)
    expected = [
        (name, data)
        for raw in split_events(block)
        for name, data in [parse_event(raw)]
        if data is not None
    ]
    assert sse_events(block) == expected
