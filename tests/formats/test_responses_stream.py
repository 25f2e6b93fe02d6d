"""The Responses stream encoder writes a message's events from %-format templates: they
must be the events, byte for byte, that encoding each one as JSON writes (OpenAI's shapes,
in its order), whatever the response id and the texts hold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.ir import (
    ChatRequest,
    Finish,
    Message,
    StreamStart,
    Text,
    TextDelta,
    UsageReport,
)
from airelay.formats.responses_stream import ResponsesStreamEncoder
from airelay.formats.usage import Usage


def _events(raw: bytes) -> list[tuple[str, bytes]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            name, data = block.split(b"\n")
            out.append((name.removeprefix(b"event: ").decode(), data.removeprefix(b"data: ")))
    return out


def _expected(item_id: str, texts: list[str], first: int) -> list[dict[str, Any]]:
    """A message's events as OpenAI writes them, from ``first`` (its sequence number)."""
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    text = "".join(texts)
    message = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}

    def part(value: str) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": value}

    events: list[tuple[str, dict[str, Any]]] = [
        ("response.output_item.added", {"output_index": 0, "item": {**message, "content": []}}),
        ("response.content_part.added", {**where, "part": part("")}),
        *[("response.output_text.delta", {**where, "delta": t, "logprobs": []}) for t in texts],
        ("response.output_text.done", {**where, "text": text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": part(text)}),
        (
            "response.output_item.done",
            {
                "output_index": 0,
                "item": {**message, "status": "completed", "content": [part(text)]},
            },
        ),
    ]
    return [
        {"type": kind, "sequence_number": first + i, **values}
        for i, (kind, values) in enumerate(events)
    ]


_TEXTS = st.text(min_size=1, max_size=6).filter(lambda t: "%" in t or t.isprintable())


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=12) | st.sampled_from(["chatcmpl-%d%s%b", 'a"b\\c', "ü\u2028"]),
    st.lists(_TEXTS | st.sampled_from(["%", "%d", "%%s", '"', "\n", "é"]), min_size=1),
    st.booleans(),
)
def test_a_message_is_written_as_its_events_encode(
    upstream_id: str, texts: list[str], runs: bool
) -> None:
    request = ChatRequest("m", [Message("user", [Text("x")])])
    encoder = ResponsesStreamEncoder(request)
    out = encoder.encode(StreamStart(upstream_id, "m", 1))
    out += encoder.encode(TextDelta(texts[0]))
    rest = texts[1:]
    plain = [orjson.dumps(t)[1:-1] for t in rest]
    if runs and rest and all(p == t.encode() for p, t in zip(plain, rest, strict=True)):
        written = encoder.encode_plain(plain, "".join(rest))
        assert written is not None
        out += written
    else:
        out += b"".join(encoder.encode_text(t) for t in rest)
    out += encoder.encode(Finish("stop"))
    out += encoder.encode(UsageReport(Usage(1, 2)))
    closing = encoder.close()

    events = _events(out)[2:]  # after response.created and response.in_progress
    item_id = "msg_" + orjson.loads(_events(out)[0][1])["response"]["id"][len("resp_") :] + "_0"
    expected = _expected(item_id, texts, 2)
    assert [name for name, _ in events] == [e["type"] for e in expected]
    assert [data for _, data in events] == [orjson.dumps(e) for e in expected]
    completed = orjson.loads(_events(closing)[-1][1])
    assert completed["response"]["output"] == [expected[-1]["item"]]
    assert completed["sequence_number"] == 2 + len(expected)
    # The opening and closing events, also written from templates, are their JSON too.
    kinds = ["response.created", "response.in_progress", "response.completed"]
    sequences = [0, 1, 2 + len(expected)]
    ends = [*_events(out)[:2], _events(closing)[-1]]
    for (name, data), kind, sequence in zip(ends, kinds, sequences, strict=True):
        assert name == kind
        response = orjson.loads(data)["response"]
        assert data == orjson.dumps(
            {"type": kind, "sequence_number": sequence, "response": response}
        )


@pytest.mark.parametrize(
    ("reason", "kind", "status"),
    [
        ("stop", "response.completed", "completed"),
        ("length", "response.incomplete", "incomplete"),
        ("content_filter", "response.incomplete", "incomplete"),
        ("error", "response.failed", "failed"),
    ],
)
def test_the_closing_event_is_named_and_typed_by_how_the_response_ended(
    reason: str, kind: str, status: str
) -> None:
    encoder = ResponsesStreamEncoder(ChatRequest("m", [Message("user", [Text("x")])]))
    out = encoder.encode(StreamStart("chatcmpl-1", "m", 1)) + encoder.encode(TextDelta("hi"))
    out += encoder.encode(Finish(reason))  # type: ignore[arg-type]
    name, data = _events(encoder.close())[-1]
    event = orjson.loads(data)
    assert (name, event["type"], event["response"]["status"]) == (kind, kind, status)
    assert event["sequence_number"] == len(_events(out))
    assert data == orjson.dumps(event)
