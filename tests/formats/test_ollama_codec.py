"""Ollama's native chat API: requests encoded from the IR (options, tools, images, history
with calls and results by tool name), whole answers and NDJSON streams decoded to the IR,
and its pass-through wire (completion by the parsed ``done`` line, usage, error line)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from airelay.formats import ir
from airelay.formats.framing import NdjsonDeframer
from airelay.formats.ir import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from airelay.formats.names import WireFormat
from airelay.formats.ollama_codec import CODEC
from airelay.formats.registry import codec, wire
from airelay.formats.usage import Usage

WIRE = wire(WireFormat.OLLAMA)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _request(**fields: Any) -> ChatRequest:
    messages = [
        Message("system", [Text("be brief")]),
        Message("user", [Text("what is here?"), Image(url="data:image/png;base64,iVBORw0KGgo=")]),
        Message(
            "assistant",
            [Reasoning("hmm"), Text("let me look"), ToolCall("c1", "lookup", '{"city":"Paris"}')],
        ),
        Message("tool", [ToolResult("c1", [Text("sunny")])]),
    ]
    return ChatRequest(model="llama3.2", messages=messages, **fields)


def test_encode_request_maps_every_part_and_parameter() -> None:
    body = CODEC.encode_request(
        _request(
            max_tokens=50,
            temperature=0.2,
            top_p=0.8,
            top_k=40,
            stop=["x"],
            seed=3,
            tools=[Tool("lookup", "find things", SCHEMA)],
            thinking=Thinking(budget_tokens=1000),
            response_format={"type": "json_schema", "json_schema": {"schema": SCHEMA}},
            stream=True,
        )
    )
    assert body == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is here?", "images": ["iVBORw0KGgo="]},
            {
                "role": "assistant",
                "content": "let me look",
                "thinking": "hmm",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"city": "Paris"}}}],
            },
            {"role": "tool", "content": "sunny", "tool_name": "lookup"},
        ],
        "stream": True,
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": SCHEMA, "description": "find things"},
            }
        ],
        "options": {
            "temperature": 0.2,
            "top_p": 0.8,
            "top_k": 40,
            "num_predict": 50,
            "stop": ["x"],
            "seed": 3,
        },
        "format": SCHEMA,
        "think": True,
    }


def test_stream_is_always_written_and_tool_choice_shapes_the_tools() -> None:
    tools = [Tool("a", None, SCHEMA), Tool("b", None, SCHEMA)]
    plain = CODEC.encode_request(ChatRequest(model="m", messages=[Message("user", [Text("x")])]))
    assert plain["stream"] is False and "options" not in plain
    none = CODEC.encode_request(_request(tools=tools, tool_choice=ToolChoice("none")))
    assert "tools" not in none
    named = CODEC.encode_request(_request(tools=tools, tool_choice=ToolChoice("tool", "b")))
    assert [t["function"]["name"] for t in named["tools"]] == ["b"]
    json_mode = CODEC.encode_request(_request(response_format={"type": "json_object"}))
    assert json_mode["format"] == "json"


def test_request_decodes_back() -> None:
    body = CODEC.encode_request(_request(max_tokens=5, stream=True))
    back = CODEC.decode_request(body)
    assert back.max_tokens == 5 and back.stream and back.include_usage
    assert [m.role for m in back.messages] == ["system", "user", "assistant", "tool"]
    call = back.messages[2].parts[-1]
    result = back.messages[3].parts[0]
    assert isinstance(call, ToolCall) and call.id == "call_0" and call.name == "lookup"
    assert isinstance(result, ToolResult) and result.call_id == "call_0"
    assert CODEC.decode_request({"model": "m", "messages": [{"role": "user"}]}).stream


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"messages": [{"role": "user", "content": "x"}]}, "'model'"),
        ({"model": "m", "messages": []}, "'messages'"),
        ({"model": "m", "messages": [{"role": "bot", "content": "x"}]}, "role"),
        ({"model": "m", "messages": [{"role": "user", "content": [1]}]}, "content"),
        ({"model": "m", "messages": [{"role": "user"}], "options": {"seed": "x"}}, "seed"),
        ({"model": "m", "messages": [{"role": "user"}], "think": "max"}, "think"),
    ],
)
def test_decode_request_rejects_invalid_input(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CODEC.decode_request(body)


WHOLE = {
    "model": "llama3.2",
    "created_at": "2026-01-02T03:04:05.123456789Z",
    "message": {
        "role": "assistant",
        "content": "",
        "thinking": "plan",
        "tool_calls": [{"function": {"name": "lookup", "arguments": {"city": "Paris"}}}],
    },
    "done": True,
    "done_reason": "stop",
    "total_duration": 1,
    "prompt_eval_count": 12,
    "eval_count": 8,
}


def test_whole_answer_decodes() -> None:
    answer = CODEC.decode_response(WHOLE)
    assert answer.model == "llama3.2" and answer.created == 1767323045
    assert answer.id == "ollama-20260102030405123456789"
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.parts == [
        Reasoning("plan"),
        ToolCall("call_20260102030405123456789_0", "lookup", '{"city":"Paris"}'),
    ]
    assert answer.usage == Usage(prompt_tokens=12, completion_tokens=8)
    length = CODEC.decode_response({**WHOLE, "message": {"content": "a"}, "done_reason": "length"})
    assert length.choices[0].finish_reason == "length"
    with pytest.raises(ValueError, match="not found"):
        CODEC.decode_response({"error": 'model "x" not found'})


def test_whole_answer_encodes_and_decodes_back() -> None:
    answer = CODEC.decode_response(WHOLE)
    again = CODEC.decode_response(CODEC.encode_response(answer))
    # Ollama carries no call ids: only the made-up ones differ.
    for parts in (again.choices[0].message.parts, answer.choices[0].message.parts):
        for part in parts:
            if isinstance(part, ToolCall):
                part.id = ""
    assert again.choices == answer.choices and again.usage == answer.usage


def _lines(*documents: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in documents)


def _line(content: str = "", **extra: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, **extra.pop("message", {})}
    return {
        "model": "llama3.2",
        "created_at": "2026-01-02T03:04:05Z",
        "message": message,
        "done": False,
        **extra,
    }


STREAM = _lines(
    _line(message={"thinking": "plan"}),
    _line("Hello "),
    _line('"done":true'),
    _line(message={"tool_calls": WHOLE["message"]["tool_calls"]}),
    _line(done=True, done_reason="stop", prompt_eval_count=12, eval_count=8),
)


def _assemble(stream: bytes, cut_every: int) -> tuple[ir.ChatResponse, bool]:
    deframer, decoder, assembler = NdjsonDeframer(), CODEC.stream_decoder(), ir.Assembler()
    finished = False
    events = []
    for at in range(0, len(stream), cut_every):
        events += deframer.feed(stream[at : at + cut_every])
    events += deframer.close()
    for name, data in events:
        finished = finished or WIRE.ends(name, data)
        for event in decoder.feed(name, orjson.loads(data)):
            assembler.feed(event)
    return assembler.response, finished


@pytest.mark.parametrize("cut_every", [1, 7, 10_000])
def test_stream_decodes_to_the_whole_answer(cut_every: int) -> None:
    answer, finished = _assemble(STREAM, cut_every)
    assert finished
    parts = answer.choices[0].message.parts
    assert parts[0] == Reasoning("plan")
    assert parts[1] == Text('Hello "done":true')
    assert isinstance(parts[2], ToolCall) and parts[2].arguments == '{"city":"Paris"}'
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.usage == Usage(prompt_tokens=12, completion_tokens=8)


def test_a_cut_stream_is_not_finished_whatever_its_text_says() -> None:
    cut = STREAM[: STREAM.rindex(b'{"model"')]
    answer, finished = _assemble(cut, 5)
    assert not finished and answer.usage is None
    assert not WIRE.ends(None, orjson.dumps(_line('"done":true "done": true')))


def test_stream_encoder_writes_lines_the_decoder_reads_back() -> None:
    answer = CODEC.decode_response(WHOLE)
    encoder = CODEC.stream_encoder(ChatRequest(model="llama3.2", messages=[]))
    events: list[ir.StreamEvent] = [
        ir.StreamStart("x", "llama3.2", 1),
        ir.ReasoningDelta("plan"),
        ir.ToolCallStart(0, "c", "lookup"),
        ir.ToolCallDelta(0, '{"city":'),
        ir.ToolCallDelta(0, '"Paris"}'),
        ir.Finish("tool_calls"),
        ir.UsageReport(Usage(12, 8)),
    ]
    out = b"".join(encoder.encode(e) for e in events) + encoder.close()
    again, finished = _assemble(out, 3)
    assert finished
    assert again.choices[0].message.parts[0] == answer.choices[0].message.parts[0]
    call = again.choices[0].message.parts[1]
    assert isinstance(call, ToolCall) and call.arguments == '{"city":"Paris"}'
    assert again.usage == answer.usage


def test_stream_error_line() -> None:
    decoder = CODEC.stream_decoder()
    assert decoder.feed(None, {"error": "out of memory"}) == [ir.StreamError("out of memory")]
    name, data = WIRE.error_event("gone")
    assert name is None and orjson.loads(data) == {"error": "gone"}
    assert codec(WireFormat.OLLAMA).error_body(502, "gone") == {"error": "gone"}


class _Call:
    model = "public"
    stream = True
    wants_usage = False

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.body = orjson.dumps(payload)

    def request_ir(self) -> ChatRequest:
        return CODEC.decode_request(self.payload)


def test_pass_through_wire() -> None:
    call = _Call(
        {
            "model": "public",
            "messages": [{"role": "user", "content": "hi"}],
            "options": {"num_predict": 9},
        }
    )
    sent = orjson.loads(WIRE.same_format_body(call, "llama3.2"))
    assert sent["model"] == "llama3.2" and sent["stream"] is True
    assert WIRE.output_bounds(call) == (9, 1)
    assert "hi" in WIRE.prompt_text(call)
    body, usage, _ = WIRE.whole_usage(orjson.dumps(WHOLE), "llama3.2", "public")
    assert orjson.loads(body)["model"] == "public"
    assert usage == Usage(prompt_tokens=12, completion_tokens=8)
    rewriter = WIRE.rewriter(call, "llama3.2")
    for _, data in NdjsonDeframer().feed(STREAM):
        out = rewriter.rewrite(None, data)
        assert out is not None and b'"model":"public"' in out
    assert rewriter.usage == Usage(prompt_tokens=12, completion_tokens=8)
