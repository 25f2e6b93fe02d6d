"""The Anthropic stream encoder writes content_block_delta events from a head encoded once
per block: every event must be the very bytes of its JSON object encoded whole, with the
index of the block it belongs to."""

from __future__ import annotations

import orjson
from formats.ir_strategies import chat_responses
from formats.streams import response_to_events
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.anthropic_stream import AnthropicStreamEncoder
from airelay.formats.framing import sse_events
from airelay.formats.ir import ChatRequest, ChatResponse, Message, Text


@settings(max_examples=150, deadline=None)
@given(chat_responses(max_choices=1, signature=True), st.integers(1, 4))
def test_every_event_is_its_object_encoded_whole(response: ChatResponse, pieces: int) -> None:
    encoder = AnthropicStreamEncoder(ChatRequest("m", [Message("user", [Text("x")])]))
    out = b"".join(encoder.encode(e) for e in response_to_events(response, pieces=pieces))
    index = -1
    for name, data in sse_events(out + encoder.close()):
        event = orjson.loads(data)
        assert orjson.dumps(event) == data
        assert event["type"] == name
        if name == "content_block_start":
            index = event["index"]
        elif name == "content_block_delta":
            assert list(event) == ["type", "index", "delta"]
            assert event["index"] == index
