"""Each wire format's pass-through object: when a stream is complete (parsed, never a
substring test), the same-format request body, whole-answer usage, the error event, and
the client framing it writes with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from airelay.formats.client_framing import client_framer, content_type
from airelay.formats.ir import ChatRequest, Message, Text
from airelay.formats.names import CHAT_FORMATS, Framing, WireFormat
from airelay.formats.registry import codec, wire
from airelay.formats.usage import Usage


@dataclass
class Call:
    """A client's call as a wire reads it."""

    payload: dict[str, Any]
    model: str = "m"
    stream: bool = False
    wants_usage: bool = False
    body: bytes = b""
    ir: ChatRequest | None = field(default=None)

    def __post_init__(self) -> None:
        self.body = self.body or orjson.dumps(self.payload)

    def request_ir(self) -> ChatRequest:
        return self.ir or ChatRequest(model=self.model, messages=[Message("user", [Text("hi")])])


TEXT_WITH_MARKS = 'say [DONE] then message_stop and "finishReason": "STOP"'


def test_openai_end_is_the_whole_data_line() -> None:
    openai = wire(WireFormat.OPENAI)
    chunk = orjson.dumps({"choices": [{"index": 0, "delta": {"content": TEXT_WITH_MARKS}}]})
    assert openai.ends(None, b"[DONE]")
    assert not openai.ends(None, chunk)
    assert all(mark in chunk for mark in openai.end_marks)  # a raw block would trigger


def test_anthropic_end_is_the_message_stop_event() -> None:
    anthropic = wire(WireFormat.ANTHROPIC)
    delta = orjson.dumps(
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "message_stop"}}
    )
    assert anthropic.ends("message_stop", b'{"type":"message_stop"}')
    assert not anthropic.ends("content_block_delta", delta)
    assert anthropic.ends(None, b'{"type":"message_stop"}')  # framed without a name
    assert not anthropic.ends(None, delta)


def test_gemini_end_is_a_candidate_with_a_finish_reason() -> None:
    gemini = wire(WireFormat.GEMINI)

    def chunk(part: object, **extra: object) -> bytes:
        candidate = {"content": {"role": "model", "parts": [part]}, **extra}
        return orjson.dumps({"candidates": [candidate]})

    call = {"functionCall": {"name": "f", "args": {"finishReason": "STOP"}}}
    assert not gemini.ends(None, chunk({"text": TEXT_WITH_MARKS}))
    assert not gemini.ends(None, chunk(call))
    assert gemini.ends(None, chunk({"text": ""}, finishReason="STOP"))
    assert gemini.ends(None, b'{"promptFeedback": {"blockReason": "SAFETY"}}')


def test_openai_same_format_body() -> None:
    openai = wire(WireFormat.OPENAI)
    plain = Call({"model": "m", "messages": []})
    assert openai.same_format_body(plain, "m") is plain.body
    streamed = Call({"model": "m", "messages": []}, stream=True)
    assert orjson.loads(openai.same_format_body(streamed, "m"))["stream_options"] == {
        "include_usage": True
    }
    renamed = orjson.loads(openai.same_format_body(Call({"model": "m", "n": 2}), "up"))
    assert renamed == {"model": "up", "n": 2}
    assert openai.output_bounds(Call({"max_tokens": 9, "n": 3})) == (9, 3)


@pytest.mark.parametrize("fmt", [WireFormat.ANTHROPIC, WireFormat.GEMINI])
def test_other_formats_keep_the_body_unless_renamed(fmt: WireFormat) -> None:
    call = Call({"model": "m", "max_tokens": 5}, stream=True)
    assert wire(fmt).same_format_body(call, "m") is call.body
    renamed = orjson.loads(wire(fmt).same_format_body(call, "up"))
    # Gemini names the model in the URL: its body never changes.
    assert renamed["model"] == ("m" if fmt is WireFormat.GEMINI else "up")


def test_whole_usage_renames_and_reads_usage() -> None:
    body = orjson.dumps(
        {"model": "up", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    )
    out, usage, document = wire(WireFormat.OPENAI).whole_usage(body, "up", "public")
    assert orjson.loads(out)["model"] == "public" and document["model"] == "public"
    assert usage == Usage(prompt_tokens=3, completion_tokens=4)
    anthropic = orjson.dumps({"model": "up", "usage": {"input_tokens": 2, "output_tokens": 5}})
    _, usage, _ = wire(WireFormat.ANTHROPIC).whole_usage(anthropic, "up", "public")
    assert usage == Usage(prompt_tokens=2, completion_tokens=5)
    gemini = orjson.dumps({"usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2}})
    _, usage, _ = wire(WireFormat.GEMINI).whole_usage(gemini, "up", "public")
    assert usage == Usage(prompt_tokens=1, completion_tokens=2)
    with pytest.raises(ValueError):
        wire(WireFormat.GEMINI).whole_usage(b"[1]", "up", "public")


@pytest.mark.parametrize("fmt", list(CHAT_FORMATS))
def test_error_event_in_the_format_error_shape(fmt: WireFormat) -> None:
    name, data = wire(fmt).error_event("gone")
    if fmt is WireFormat.RESPONSES:  # the stream's own error event, as OpenAI sends it
        event = orjson.loads(data)
        assert (event["type"], event["message"], event["code"]) == ("error", "gone", "server_error")
    else:
        assert orjson.loads(data) == codec(fmt).error_body(502, "gone", None)
    framed = client_framer(wire(fmt).sse, Framing.SSE).frame(name, data)
    named = fmt in (WireFormat.ANTHROPIC, WireFormat.RESPONSES)
    assert framed.startswith(b"event: error\n" if named else b"data: ")
    assert framed.endswith(wire(fmt).sse.end)


def test_json_array_client_framing() -> None:
    framer = client_framer(wire(WireFormat.GEMINI).sse, Framing.JSON_ARRAY)
    assert content_type(Framing.JSON_ARRAY) == framer.content_type == "application/json"
    assert not framer.passes(Framing.SSE)
    out = framer.frame(None, b'{"a":1}') + framer.encoded(b'data: {"b":2}\r\n\r\n')
    assert orjson.loads(out + framer.close()) == [{"a": 1}, {"b": 2}]
    sse = client_framer(wire(WireFormat.OPENAI).sse, Framing.SSE)
    assert sse.passes(Framing.SSE) and not sse.passes(Framing.AWS_EVENTSTREAM)


@pytest.mark.parametrize("fmt", list(CHAT_FORMATS))
def test_prompt_text(fmt: WireFormat) -> None:
    if fmt is WireFormat.RESPONSES:  # read from its own payload, never decoded
        call = Call({"model": "m", "input": [{"role": "user", "content": "hi"}]})
    else:
        call = Call({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert "hi" in wire(fmt).prompt_text(call)
