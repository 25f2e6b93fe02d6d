"""The OpenAI Responses codec against the IR: property round trips (requests, answers,
streams), the shapes checked with the official SDK's types and its stream accumulator, and
reference cases (items, custom tools, reasoning, refusals)."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import orjson
import pytest
from formats.ir_strategies import chat_requests, chat_responses, thinkings
from formats.streams import assemble, response_to_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from airelay.formats import responses_codec
from airelay.formats.codec import Codec
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    UsageReport,
)
from airelay.formats.registry import codec
from airelay.formats.responses_codec import Untranslatable
from airelay.formats.usage import Usage

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)

REQUESTS = chat_requests(
    result_names=True,  # decode names results after the calls they answer
    result_images=True,
    n=False,
    seed=False,
    thinking=st.none() | thinkings(budget=False, include=True),
)
# Signatures (Anthropic's, Gemini's) travel in encrypted_content and come back.
RESPONSES = chat_responses(max_choices=1, signature=True, cache_write=True, id_prefix="resp_")


def test_codec_object_satisfies_the_protocol() -> None:
    assert isinstance(codec(responses_codec.CODEC.name), object)
    the: Codec = responses_codec.CODEC
    assert the.name == "responses"


# ---- requests -----------------------------------------------------------------------------


@PROPERTY
@given(REQUESTS)
def test_request_round_trip_keeps_meaning(request: ChatRequest) -> None:
    body = responses_codec.encode_request(request)
    assert json.loads(json.dumps(body)) == body  # plain JSON
    assert "stop" not in body and "seed" not in body and "n" not in body
    decoded = responses_codec.decode_request(body)
    expected = copy.deepcopy(request)
    expected.stop = None  # the Responses API has no stop sequences
    if expected.max_tokens is not None:  # nor a cap below 16
        expected.max_tokens = max(expected.max_tokens, responses_codec.MIN_OUTPUT_TOKENS)
    expected.include_usage = request.stream  # a Responses stream always reports usage
    if expected.tool_choice is not None and not expected.tools:
        expected.tool_choice = None
    assert decoded == expected
    assert responses_codec.encode_request(decoded) == body


def test_decode_request_with_every_item_kind() -> None:
    body = {
        "model": "gpt-5",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use tools."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "thinking"}],
                "encrypted_content": "enc",
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
            {"type": "custom_tool_call", "call_id": "c2", "name": "patch", "input": "*** x"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"},
        ],
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
            {"type": "custom", "name": "patch", "format": {"type": "grammar"}},
        ],
        "tool_choice": {"type": "custom", "name": "patch"},
        "parallel_tool_calls": False,
        "reasoning": {"effort": "minimal", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        "max_output_tokens": 50,
        "metadata": {"k": "v"},
        "prompt_cache_key": "s1",
        "store": True,
        "include": ["reasoning.encrypted_content"],
        "stream": True,
    }
    request = responses_codec.decode_request(body)
    assert [m.role for m in request.messages] == [
        "system",
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assistant = request.messages[3].parts
    assert assistant[0] == Reasoning("thinking", None, "enc")
    assert assistant[2] == ToolCall("c2", "patch", '{"input":"*** x"}')
    assert request.messages[5].parts[0] == ToolResult("c2", [Text("done")], "patch")
    assert request.tools is not None and request.tools[1].custom
    assert request.tools[1].parameters["required"] == ["input"]
    assert request.tool_choice is not None
    assert (request.tool_choice.mode, request.tool_choice.name) == ("tool", "patch")
    assert request.tool_choice.parallel is False
    assert request.thinking is not None and request.thinking.effort == "low"
    assert request.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}},
    }
    assert request.max_tokens == 50 and request.stream and request.include_usage
    # Back to the Responses wire: the custom tool and its call stay custom.
    again = responses_codec.encode_request(request)
    kinds = [item.get("type") for item in again["input"]]
    assert "custom_tool_call" in kinds and "custom_tool_call_output" in kinds
    assert again["tools"][1] == {"type": "custom", "name": "patch", "format": {"type": "grammar"}}
    assert again["instructions"] == "Be brief.\n\nUse tools."  # the leading system turns
    assert again["input"][0]["role"] == "user"
    assert again["reasoning"] == {"effort": "low", "summary": "auto"}
    assert {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}],
            "encrypted_content": "enc"} in again["input"]  # fmt: skip


def test_another_formats_signature_round_trips_through_a_responses_client() -> None:
    part = Reasoning("thought", "anthropic-signature")
    resp = ChatResponse("x", "m", 1, [Choice(0, Message("assistant", [part, Text("ok")]), "stop")])
    item = responses_codec.encode_response(resp)["output"][0]
    assert item["encrypted_content"] == "airelay-signature:anthropic-signature"
    body = {"model": "m", "input": [{"role": "user", "content": "hi"}, item]}
    back = responses_codec.decode_request(body).messages[1].parts[0]
    assert back == Reasoning("thought", "anthropic-signature", None)


def test_reasoning_without_encrypted_content_is_not_sent_to_a_responses_upstream() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("hi")]),
            Message("assistant", [Reasoning("mine", "anthropic-signature"), Text("ok")]),
            Message("user", [Text("more")]),
        ],
    )
    items = responses_codec.encode_request(request)["input"]
    assert [i.get("type") for i in items] == ["message", "message", "message"]
    assert "anthropic-signature" not in orjson.dumps(items).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"input": "hi"}, "'model'"),
        ({"model": "m"}, "'input'"),
        ({"model": "m", "input": []}, "'input'"),
        ({"model": "m", "input": "hi", "stream": "yes"}, "'stream'"),
        ({"model": "m", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "role"),
        ({"model": "m", "input": [{"type": "function_call_output"}]}, "call_id"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "stored"),
        ({"model": "m", "input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "xml"}}}, "text.format"),
        ({"model": "m", "input": "hi", "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "m", "input": "hi", "include": "all"}, "include"),
        ({"model": "m", "input": [{"role": {"a": 1}, "content": "x"}]}, "role"),
        ({"model": "m", "input": "hi", "reasoning": {"summary": ["x"]}}, "reasoning.summary"),
    ],
)
def test_decode_request_refuses_invalid_input(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        responses_codec.decode_request(body)


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "web_search"}]},
        {"background": True},
        {"input": [{"type": "local_shell_call", "call_id": "x"}]},
        {"tool_choice": {"type": "allowed_tools", "tools": []}},
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
    ],
)
def test_what_only_a_responses_upstream_serves_is_untranslatable(extra: dict[str, Any]) -> None:
    with pytest.raises(Untranslatable):
        responses_codec.decode_request({"model": "m", "input": "hi", **extra})


def test_built_in_tools_leave_a_lenient_translation_without_them() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    group = {"type": "namespace", "name": "g", "tools": [{**tool, "name": "h"}]}
    body = {"model": "m", "input": "hi", "tools": [{"type": "web_search"}, tool, group]}
    with pytest.raises(Untranslatable) as caught:
        responses_codec.decode_request(body)
    assert "web_search" in str(caught.value)
    lenient = caught.value.lenient
    assert lenient is not None and [t.name for t in lenient.tools or []] == ["f", "h"]
    # Without built-in tools, a namespace alone translates: its functions, flattened.
    decoded = responses_codec.decode_request({**body, "tools": [group]})
    assert [t.name for t in decoded.tools or []] == ["h"]


# ---- answers ------------------------------------------------------------------------------


@PROPERTY
@given(RESPONSES)
def test_response_round_trip(resp: ChatResponse) -> None:
    encoded = responses_codec.encode_response(resp)
    Response.model_validate(encoded)
    assert responses_codec.decode_response(json.loads(json.dumps(encoded))) == resp


def test_answer_shape_and_status() -> None:
    resp = ChatResponse(
        id="abc",
        model="m",
        created=7,
        choices=[
            Choice(
                0,
                Message("assistant", [Reasoning("r", None, "enc"), Text("partial")]),
                "length",
            )
        ],
        usage=Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=4, reasoning_tokens=2),
    )
    body = responses_codec.encode_response(resp)
    assert body["id"] == "resp_abc" and body["object"] == "response" and body["created_at"] == 7
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    assert body["output"][0]["encrypted_content"] == "enc"
    assert body["output"][1]["status"] == "incomplete"
    assert body["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }


def test_custom_tool_calls_answer_as_custom_items_when_the_request_says() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [Text("patch it")])],
        tools=[Tool("apply_patch", None, {}, custom=True)],
    )
    call = ToolCall("call_1", "apply_patch", '{"input":"*** Begin Patch"}')
    resp = ChatResponse("x", "m", 1, [Choice(0, Message("assistant", [call]), "tool_calls")])
    item = responses_codec.encode_response(resp, request)["output"][0]
    assert item["type"] == "custom_tool_call" and item["input"] == "*** Begin Patch"
    assert item["call_id"] == "call_1"
    decoded = responses_codec.decode_response(responses_codec.encode_response(resp, request))
    assert decoded.choices[0].message.parts == [call]


def test_decode_response_refuses_errors_and_garbage() -> None:
    with pytest.raises(ValueError, match="boom"):
        responses_codec.decode_response({"error": {"message": "boom"}})
    with pytest.raises(ValueError):
        responses_codec.decode_response({"id": "x"})
    with pytest.raises(ValueError):
        responses_codec.decode_response([1])


# ---- streams ------------------------------------------------------------------------------


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = block.split("\n", 1)
        assert name.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[6:])
        assert payload["type"] == name[7:]
        events.append((name[7:], payload))
    return events


def encode_stream(request: ChatRequest, events: list[StreamEvent]) -> bytes:
    encoder = responses_codec.stream_encoder(request)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def decode_stream(events: list[tuple[str, dict[str, Any]]]) -> list[StreamEvent]:
    decoder = responses_codec.stream_decoder()
    out: list[StreamEvent] = []
    for name, data in events:
        out += decoder.feed(name, data)
    return out + decoder.close()


def _request() -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [Text("hi")])], stream=True)


@PROPERTY
@given(RESPONSES, st.integers(1, 5))
def test_stream_encode_decode_assembles_the_response(resp: ChatResponse, pieces: int) -> None:
    raw = encode_stream(_request(), response_to_events(resp, pieces=pieces))
    events = parse_sse(raw)
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for _, data in events:
        state.handle_event(EVENTS.validate_python(data))  # the SDK's own accumulator
    assert assemble(decode_stream(events)) == resp
    kind = {"stop": "completed", "tool_calls": "completed"}.get(
        str(resp.choices[0].finish_reason), "incomplete"
    )
    assert events[-1][0] == f"response.{kind}"
    final = state._completed_response  # the SDK completes on response.completed only
    if kind == "completed":
        assert final is not None
        assert responses_codec.decode_response(final.model_dump()) == resp
    else:
        assert responses_codec.decode_response(events[-1][1]["response"]) == resp


def test_stream_exact_event_sequence() -> None:
    events: list[StreamEvent] = [
        StreamStart("abc", "m", 5),
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallStart(0, "call_1", "f"),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        Finish("tool_calls"),
        UsageReport(Usage(prompt_tokens=3, completion_tokens=4, cached_tokens=1)),
    ]
    parsed = parse_sse(encode_stream(_request(), events))
    assert [name for name, _ in parsed] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = parsed[11][1]
    assert text == {
        "type": "response.output_text.delta",
        "sequence_number": 11,
        "item_id": parsed[9][1]["item"]["id"],
        "output_index": 1,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    final = parsed[-1][1]["response"]
    assert final["id"] == "resp_abc" and final["status"] == "completed"
    assert final["usage"]["input_tokens_details"] == {"cached_tokens": 1, "cache_write_tokens": 0}
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    for _, data in parsed:
        EVENTS.validate_python(data)


def test_stream_custom_tool_call_and_failure() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [Text("x")])],
        tools=[Tool("apply_patch", None, {}, custom=True)],
        stream=True,
    )
    events: list[StreamEvent] = [
        StreamStart("abc", "m", 5),
        ToolCallStart(0, "call_1", "apply_patch"),
        ToolCallDelta(0, '{"input":"*** Be'),
        ToolCallDelta(0, 'gin"}'),
        Finish("tool_calls"),
    ]
    parsed = parse_sse(encode_stream(request, events))
    done = next(d for n, d in parsed if n == "response.output_item.done")["item"]
    assert done["type"] == "custom_tool_call" and done["input"] == "*** Begin"
    decoded = assemble(decode_stream(parsed))
    assert decoded.choices[0].message.parts == [
        ToolCall("call_1", "apply_patch", '{"input":"*** Begin"}')
    ]
    encoder = responses_codec.stream_encoder(request)
    raw = encoder.encode(StreamStart("abc", "m", 5)) + encoder.encode(TextDelta("a"))
    raw += encoder.encode(StreamError("upstream broke"))
    failed = parse_sse(raw)[-1]
    assert failed[0] == "response.failed"
    assert failed[1]["response"]["error"]["message"] == "upstream broke"
    assert encoder.close() == b""
    assert decode_stream([failed])[-1] == StreamError("upstream broke")


def test_stream_decoder_reads_openai_error_event_and_incomplete() -> None:
    assert decode_stream([("error", {"type": "error", "message": "bad", "code": "x"})]) == [
        StreamError("bad")
    ]
    response = {
        "id": "resp_1",
        "model": "m",
        "created_at": 1,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "usage": {"input_tokens": 2, "output_tokens": 3},
    }
    events = decode_stream([("response.incomplete", {"type": "response.incomplete",
                                                      "response": response})])  # fmt: skip
    assert events[-1] == Finish("length")
    assert UsageReport(Usage(prompt_tokens=2, completion_tokens=3)) in events


def test_stream_decoder_ignores_events_of_unknown_shape() -> None:
    assert decode_stream([("x", {"type": {"a": 1}}), ("y", {"type": None})]) == []


def test_translated_answer_keeps_its_choice_zero_only() -> None:
    resp = ChatResponse(
        "x",
        "m",
        1,
        [
            Choice(0, Message("assistant", [Text("a")]), "stop"),
            Choice(1, Message("assistant", [Text("b")]), "stop"),
        ],
    )
    body = responses_codec.encode_response(resp)
    assert [c["text"] for c in body["output"][0]["content"]] == ["a"]
    decoded = responses_codec.decode_response(body)
    assert decoded.choices == [dataclasses.replace(resp.choices[0])]
