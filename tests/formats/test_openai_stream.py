"""The OpenAI stream encoder splices pre-encoded chunk heads around each delta: every chunk
it writes must be the very bytes of its JSON object encoded whole."""

from __future__ import annotations

import orjson
from formats.ir_strategies import chat_responses
from formats.streams import response_to_events
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.framing import sse_events
from airelay.formats.ir import ChatRequest, ChatResponse, Message, StreamStart, Text, TextDelta
from airelay.formats.openai_stream import OpenAIStreamEncoder

_KEYS = ["id", "object", "created", "model", "choices"]


def _chunks(encoder: OpenAIStreamEncoder, events: list[object]) -> list[bytes]:
    out = b"".join(encoder.encode(event) for event in events)  # type: ignore[arg-type]
    return [data for _, data in sse_events(out + encoder.close())]


@settings(max_examples=150, deadline=None)
@given(chat_responses(), st.booleans(), st.integers(1, 4))
def test_every_chunk_is_its_object_encoded_whole(
    response: ChatResponse, include_usage: bool, pieces: int
) -> None:
    request = ChatRequest("m", [Message("user", [Text("x")])], include_usage=include_usage)
    encoder = OpenAIStreamEncoder(request)
    chunks = _chunks(encoder, list(response_to_events(response, pieces=pieces)))
    assert chunks[-1] == b"[DONE]"
    for data in chunks[:-1]:
        chunk = orjson.loads(data)
        assert orjson.dumps(chunk) == data
        assert list(chunk) == _KEYS + (["usage"] if include_usage else [])
        if chunk["choices"]:
            assert list(chunk["choices"][0]) == ["index", "delta", "logprobs", "finish_reason"]


def test_a_new_start_changes_the_heads_of_later_chunks() -> None:
    encoder = OpenAIStreamEncoder(ChatRequest("m", [Message("user", [Text("x")])]))
    events = [StreamStart("a", "m1", 1), TextDelta("x"), StreamStart("b", "m2", 2), TextDelta("y")]
    chunks = [orjson.loads(data) for data in _chunks(encoder, events)[:-1]]
    assert [(c["id"], c["model"], c["created"]) for c in chunks] == [
        ("chatcmpl-a", "m1", 1),
        ("chatcmpl-a", "m1", 1),
        ("chatcmpl-b", "m2", 2),
    ]
    assert chunks[-1]["choices"][0]["delta"] == {"content": "y"}
