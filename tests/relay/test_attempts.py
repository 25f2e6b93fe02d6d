"""A translated attempt's body: the call's request with the channel's model, the call's
stream flag and usage asked for, every other field as the client sent it."""

from __future__ import annotations

import dataclasses

import orjson
from formats.ir_strategies import chat_requests
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats.ir import ChatRequest
from airelay.formats.names import Endpoint, WireFormat
from airelay.formats.registry import codec
from airelay.relay.attempts import _translated_body
from airelay.relay.call import Call


@settings(max_examples=100, deadline=None)
@given(chat_requests(), st.booleans(), st.sampled_from([WireFormat.ANTHROPIC, WireFormat.GEMINI]))
def test_translated_body_is_the_request_retargeted(
    request: ChatRequest, stream: bool, fmt: WireFormat
) -> None:
    call = Call(
        client=WireFormat.OPENAI,
        endpoint=Endpoint.CHAT,
        model=request.model,
        stream=stream,
        body=b"{}",
        payload={},
        ir=request,
        path="/v1/chat/completions",
        request_id="r",
    )
    before = dataclasses.replace(request)
    expected = dataclasses.replace(request, model="up", stream=stream, include_usage=True)
    assert _translated_body(call, fmt, "c1", "up") == orjson.dumps(
        codec(fmt).encode_request(expected)
    )
    assert request == before  # the call's own request is left as it was
