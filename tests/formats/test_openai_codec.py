"""The OpenAI Chat Completions codec: golden cases from OpenAI's API reference, round
trips, streams checked against the official SDK's types, and property tests."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import orjson
import pytest
from formats.ir_strategies import chat_requests, chat_responses, thinkings
from formats.streams import assemble, response_to_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from airelay.errors import ERROR_TYPES, openai_error_body
from airelay.formats import openai_codec
from airelay.formats.codec import Codec
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    Image,
    Message,
    Reasoning,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    TextDelta,
    Thinking,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    UsageReport,
)
from airelay.formats.usage import Usage

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}

# ---- golden cases (the examples of OpenAI's API reference for Create chat completion) ---


def test_codec_object_satisfies_the_protocol() -> None:
    codec: Codec = openai_codec.CODEC
    assert codec.name == "openai" == openai_codec.name
    assert codec.decode_request is openai_codec.decode_request


def test_reference_default_request() -> None:
    body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
    }
    assert openai_codec.decode_request(body) == ChatRequest(
        model="gpt-4.1",
        messages=[
            Message("system", [Text("You are a helpful assistant.")]),
            Message("user", [Text("Hello!")]),
        ],
    )
    assert openai_codec.encode_request(openai_codec.decode_request(body)) == {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
    }


REFERENCE_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! How can I assist you today?",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
}


def test_reference_default_response() -> None:
    resp = openai_codec.decode_response(REFERENCE_RESPONSE)
    assert resp == ChatResponse(
        id="chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        model="gpt-4.1-2025-04-14",
        created=1741569952,
        choices=[
            Choice(0, Message("assistant", [Text("Hello! How can I assist you today?")]), "stop")
        ],
        usage=Usage(prompt_tokens=19, completion_tokens=10),
    )
    encoded = openai_codec.encode_response(resp)
    sdk = ChatCompletion.model_validate(encoded)
    assert sdk.choices[0].message.content == "Hello! How can I assist you today?"
    assert sdk.usage is not None and sdk.usage.total_tokens == 29
    assert encoded["choices"] == [
        REFERENCE_RESPONSE["choices"][0]
        | {
            "message": {
                "role": "assistant",
                "content": "Hello! How can I assist you today?",
                "refusal": None,
            }
        }
    ]


def test_reference_function_calling() -> None:
    body = {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "What is the weather like in Boston today?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "description": "Get the current weather in a given location",
                    "parameters": WEATHER_PARAMETERS,
                },
            }
        ],
        "tool_choice": "auto",
    }
    request = openai_codec.decode_request(body)
    assert request.tools == [
        Tool(
            "get_current_weather", "Get the current weather in a given location", WEATHER_PARAMETERS
        )
    ]
    assert request.tool_choice == ToolChoice("auto")
    assert openai_codec.encode_request(request) == body

    response = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1699896916,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc123",
                            "type": "function",
                            "function": {
                                "name": "get_current_weather",
                                "arguments": '{\n"location": "Boston, MA"\n}',
                            },
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 82,
            "completion_tokens": 17,
            "total_tokens": 99,
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
    resp = openai_codec.decode_response(response)
    call = ToolCall("call_abc123", "get_current_weather", '{\n"location": "Boston, MA"\n}')
    assert resp.choices == [Choice(0, Message("assistant", [call]), "tool_calls")]
    encoded = openai_codec.encode_response(resp)
    assert encoded["choices"][0]["message"]["content"] is None
    assert (
        encoded["choices"][0]["message"]["tool_calls"]
        == response["choices"][0]["message"]["tool_calls"]
    )
    ChatCompletion.model_validate(encoded)


def test_reference_image_input() -> None:
    url = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"
    body = {
        "model": "gpt-4.1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                ],
            }
        ],
        "max_tokens": 300,
    }
    request = openai_codec.decode_request(body)
    assert request.messages == [Message("user", [Text("What is in this image?"), Image(url=url)])]
    assert request.max_tokens == 300
    encoded = openai_codec.encode_request(request)
    assert encoded["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": url}}


REFERENCE_STREAM = [
    {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
     "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                  "finish_reason": None}]},
    {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
     "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
     "choices": [{"index": 0, "delta": {"content": "Hello"}, "logprobs": None,
                  "finish_reason": None}]},
    {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
     "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
     "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]},
]  # fmt: skip


def test_reference_stream_decodes_to_events() -> None:
    decoder = openai_codec.stream_decoder()
    events = [e for chunk in REFERENCE_STREAM for e in decoder.feed(None, chunk)]
    assert events == [
        StreamStart("chatcmpl-123", "gpt-4o-mini", 1694268190),
        TextDelta("Hello"),
        Finish("stop"),
    ]
    assert decoder.feed(None, "[DONE]") == [] and decoder.close() == []


# ---- requests ---------------------------------------------------------------------------


def test_decode_request_with_every_part_and_parameter() -> None:
    body = {
        "model": "deepseek-reasoner",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be terse."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "thinking...",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "18C"}],
            },
        ],
        "max_completion_tokens": 99,
        "max_tokens": 5,
        "temperature": 1,
        "top_p": 0.5,
        "stop": "END",
        "n": 2,
        "seed": 7,
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "reasoning_effort": "minimal",
        "response_format": {"type": "json_object"},
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_usage": True},
        "functions": [{"name": "legacy"}],
    }
    request = openai_codec.decode_request(body)
    assert request == ChatRequest(
        model="deepseek-reasoner",
        messages=[
            Message("system", [Text("Be terse.")]),
            Message(
                "user",
                [Text("Look"), Image(data="QUJD", media_type="image/jpeg"), Audio("UklG", "wav")],
            ),
            Message(
                "assistant",
                [Reasoning("thinking..."), ToolCall("call_1", "get_weather", '{"city":"Paris"}')],
            ),
            Message("tool", [ToolResult("call_1", [Text("18C")], name="get_weather")]),
        ],
        max_tokens=99,
        temperature=1.0,
        top_p=0.5,
        stop=["END"],
        n=2,
        seed=7,
        tools=[Tool("get_weather", None, {"type": "object", "properties": {}})],
        tool_choice=ToolChoice("tool", "get_weather", parallel=False),
        thinking=Thinking(effort="low"),
        response_format={"type": "json_object"},
        user="u-1",
        stream=True,
        include_usage=True,
    )


def test_encode_request_drops_reasoning_and_maps_thinking_budget() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("hi"), Image(data="QUJD", media_type="image/png")]),
            Message("assistant", [Reasoning("secret", "sig"), Text("Hello")]),
            Message("user", [Text("again")]),
        ],
        top_k=5,
        thinking=Thinking(budget_tokens=4000),
        stream=True,
    )
    body = openai_codec.encode_request(request)
    assert body == {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                ],
            },
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "again"},
        ],
        "reasoning_effort": "medium",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (2047, "low"), (2048, "medium"), (8191, "medium"),
                           (8192, "medium"), (8193, "high"), (64000, "high")],
)  # fmt: skip
def test_thinking_budget_to_effort(budget: int, effort: str) -> None:
    request = ChatRequest("m", [Message("user", [Text("x")])], thinking=Thinking(budget))
    assert openai_codec.encode_request(request)["reasoning_effort"] == effort


def test_tool_results_with_images_follow_as_a_user_message() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("draw")]),
            Message("assistant", [ToolCall("c1", "render", "{}"), ToolCall("c2", "render", "{}")]),
            Message("tool", [ToolResult("c1", [Text("ok"), Image(url="https://x/1.png")])]),
            Message("tool", [ToolResult("c2", [Text("a"), Text("b")], is_error=True)]),
        ],
    )
    messages = openai_codec.encode_request(request)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "render", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "render", "arguments": "{}"}},
        ],
    }
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {
            "role": "tool",
            "tool_call_id": "c2",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": "https://x/1.png"}},
            ],
        },
    ]


def test_tool_choice_only_with_tools_and_parallel_alone() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    request = openai_codec.decode_request({**base, "parallel_tool_calls": False})
    assert request.tool_choice == ToolChoice("auto", parallel=False)
    assert "tool_choice" not in openai_codec.encode_request(request)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = openai_codec.decode_request({**base, "tools": tools, "tool_choice": "required"})
    assert openai_codec.encode_request(request)["tool_choice"] == "required"


def test_stream_flag_and_model_from_arguments() -> None:
    request = openai_codec.decode_request(
        {"messages": [{"role": "user", "content": "x"}]}, model="from-url", stream=True
    )
    assert (request.model, request.stream, request.include_usage) == ("from-url", True, False)
    request = openai_codec.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": False,
         "stream_options": {"include_usage": True}},
        stream=True,
    )  # fmt: skip
    assert (request.stream, request.include_usage) == (False, False)


def _req(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body must be a JSON object"),
        ({"messages": [{"role": "user", "content": "x"}]}, "'model' is required"),
        ({"model": "m"}, "'messages' is required"),
        ({"model": "m", "messages": []}, "'messages' is required"),
        ({"model": "m", "messages": ["x"]}, "'messages[0]' must be an object"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "'messages[0].role'"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "'messages[0].content'"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "file"}]}]},
            "'messages[0].content[0].type' 'file' is not supported",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "'messages[0].content[0].image_url.url'",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "'messages[0].tool_call_id'",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]},
            "'messages[0].tool_calls[0]' must have an 'id' and a 'function'",
        ),
        (_req(max_tokens=0), "'max_tokens' must be a positive integer"),
        (_req(max_tokens="5"), "'max_tokens' must be an integer"),
        (_req(max_completion_tokens=True), "'max_completion_tokens' must be an integer"),
        (_req(temperature="hot"), "'temperature' must be a number"),
        (_req(stop=[1]), "'stop' must be a string or an array of strings"),
        (_req(stream="yes"), "'stream' must be a boolean"),
        (_req(stream_options=[]), "'stream_options' must be an object"),
        (_req(tools={}), "'tools' must be an array"),
        (_req(tools=[{"type": "web_search"}]), "'tools[0]' must be a function tool"),
        (_req(tools=[{"type": "function", "function": {}}]), "'tools[0].function.name'"),
        (_req(tool_choice="sometimes"), "'tool_choice' must be"),
        (_req(parallel_tool_calls="no"), "'parallel_tool_calls' must be a boolean"),
        (_req(reasoning_effort="max"), "'reasoning_effort' must be one of"),
        (_req(response_format={"type": "yaml"}), "'response_format.type'"),
        (_req(user=5), "'user' must be a string"),
        (_req(seed=1.5), "'seed' must be an integer"),
    ],
)
def test_decode_request_rejects_invalid_input(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + _escape(message)):
        openai_codec.decode_request(body)


def _escape(text: str) -> str:
    return re.escape(text)


# ---- responses --------------------------------------------------------------------------


def test_deepseek_reasoning_and_cache_usage() -> None:
    body = {
        "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
        "object": "chat.completion",
        "created": 1705651092,
        "model": "deepseek-reasoner",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "9.11 < 9.8",
                            "reasoning_content": "Compare the decimals."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 16, "completion_tokens": 40, "total_tokens": 56,
                  "prompt_cache_hit_tokens": 10, "prompt_cache_miss_tokens": 6,
                  "completion_tokens_details": {"reasoning_tokens": 30}},
    }  # fmt: skip
    resp = openai_codec.decode_response(body)
    assert resp.choices[0].message.parts == [Reasoning("Compare the decimals."), Text("9.11 < 9.8")]
    assert resp.usage == Usage(16, 40, cached_tokens=10, reasoning_tokens=30)
    encoded = openai_codec.encode_response(resp)
    assert encoded["id"] == "chatcmpl-930c60df-bf64-41c9-a88e-3ec75f81e00e"
    assert encoded["choices"][0]["message"]["reasoning_content"] == "Compare the decimals."
    assert encoded["usage"] == {
        "prompt_tokens": 16,
        "completion_tokens": 40,
        "total_tokens": 56,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    sdk = ChatCompletion.model_validate(encoded)
    assert sdk.usage is not None and sdk.usage.prompt_tokens_details is not None
    assert sdk.usage.prompt_tokens_details.cached_tokens == 10


@pytest.mark.parametrize(
    ("wire", "ir", "back"),
    [
        ("stop", "stop", "stop"),
        ("length", "length", "length"),
        ("tool_calls", "tool_calls", "tool_calls"),
        ("content_filter", "content_filter", "content_filter"),
        ("function_call", "tool_calls", "tool_calls"),
        ("insufficient_system_resource", "error", "stop"),
    ],
)
def test_finish_reasons(wire: str, ir: str, back: str) -> None:
    body = copy.deepcopy(REFERENCE_RESPONSE)
    body["choices"][0]["finish_reason"] = wire
    resp = openai_codec.decode_response(body)
    assert resp.choices[0].finish_reason == ir
    assert openai_codec.encode_response(resp)["choices"][0]["finish_reason"] == back


def test_legacy_function_call_response() -> None:
    body = copy.deepcopy(REFERENCE_RESPONSE)
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "f", "arguments": "{}"},
    }
    body["choices"][0]["finish_reason"] = "function_call"
    resp = openai_codec.decode_response(body)
    assert resp.choices[0].message.parts == [ToolCall("call_0", "f", "{}")]
    assert resp.choices[0].finish_reason == "tool_calls"


def test_decode_response_rejects_errors_and_garbage() -> None:
    with pytest.raises(ValueError, match="bad key"):
        openai_codec.decode_response({"error": {"message": "bad key"}})
    with pytest.raises(ValueError, match="no 'choices'"):
        openai_codec.decode_response({"id": "x"})
    with pytest.raises(ValueError, match="JSON object"):
        openai_codec.decode_response([1])


def test_error_body_is_the_gateway_shape() -> None:
    for status in [*ERROR_TYPES, 418]:
        assert openai_codec.error_body(status, "nope") == orjson.loads(
            openai_error_body(status, "nope")
        )
    assert openai_codec.error_body(400, "x", "custom") == {
        "error": {"message": "x", "type": "custom", "code": 400}
    }


# ---- streams ----------------------------------------------------------------------------


def sse_chunks(data: bytes) -> list[Any]:
    """Parsed ``data:`` payloads of an SSE byte string (``[DONE]`` as the string)."""
    assert data.endswith(b"\n\n")
    out: list[Any] = []
    for event in data.split(b"\n\n")[:-1]:
        assert event.startswith(b"data: ") and b"\n" not in event, event
        payload = event[6:]
        out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


def encode_stream(request: ChatRequest, events: list[StreamEvent]) -> list[Any]:
    encoder = openai_codec.stream_encoder(request)
    data = b"".join(encoder.encode(e) for e in events) + encoder.close()
    return sse_chunks(data)


def decode_stream(chunks: list[Any]) -> list[StreamEvent]:
    decoder = openai_codec.stream_decoder()
    events = [e for chunk in chunks for e in decoder.feed(None, chunk)]
    return events + decoder.close()


def _request(include_usage: bool) -> ChatRequest:
    return ChatRequest("gpt-4o", [Message("user", [Text("x")])], stream=True,
                       include_usage=include_usage)  # fmt: skip


TOOL_RESPONSE = ChatResponse(
    id="chatcmpl-42",
    model="gpt-4o",
    created=1700000000,
    choices=[
        Choice(
            0,
            Message(
                "assistant",
                [
                    Reasoning("Let me think."),
                    Text("Checking."),
                    ToolCall("call_a", "get_weather", '{"city":"Paris"}'),
                    ToolCall("call_b", "get_time", '{"tz":"CET"}'),
                ],
            ),
            "tool_calls",
        )
    ],
    usage=Usage(12, 30, cached_tokens=4, reasoning_tokens=3),
)


def test_stream_encoder_exact_openai_shape() -> None:
    chunks = encode_stream(_request(True), response_to_events(TOOL_RESPONSE, pieces=2))
    assert chunks[-1] == "[DONE]"
    body = chunks[:-1]
    for chunk in body:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["id"] == "chatcmpl-42" and chunk["object"] == "chat.completion.chunk"
        assert "usage" in chunk
    assert body[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
         "finish_reason": None}
    ]  # fmt: skip
    assert all(c["usage"] is None for c in body[:-1])
    deltas = [c["choices"][0]["delta"] for c in body[1:-1]]
    assert deltas[:4] == [
        {"reasoning_content": "Let me "},
        {"reasoning_content": "think."},
        {"content": "Check"},
        {"content": "ing."},
    ]
    assert deltas[4] == {
        "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}
        ]
    }  # fmt: skip
    assert deltas[5] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}
    assert body[-2]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    ]
    assert body[-1]["choices"] == []
    assert body[-1]["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    assert assemble(decode_stream(chunks)) == TOOL_RESPONSE


def test_stream_encoder_without_usage_request() -> None:
    chunks = encode_stream(_request(False), response_to_events(TOOL_RESPONSE))
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])
    assert assemble(decode_stream(chunks)) == dataclasses.replace(TOOL_RESPONSE, usage=None)


def test_stream_error_chunk_both_ways() -> None:
    encoder = openai_codec.stream_encoder(_request(True))
    encoder.encode(StreamStart("chatcmpl-1", "m", 1))
    data = encoder.encode(StreamError("upstream went away", "upstream_error"))
    assert sse_chunks(data) == [
        {"error": {"message": "upstream went away", "type": "upstream_error", "code": 502}}
    ]
    encoder.encode(UsageReport(Usage(1, 1)))
    assert encoder.close() == b"data: [DONE]\n\n"  # no usage chunk after an error
    decoder = openai_codec.stream_decoder()
    assert decoder.feed(None, {"error": {"message": "overloaded", "type": "server_error"}}) == [
        StreamError("overloaded", "server_error")
    ]


def test_stream_decoder_deepseek_and_fake_upstream_shapes() -> None:
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "deepseek-r"}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice], **extra}

    chunks = [
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"content": None, "reasoning_content": "Hm"}),
        chunk({"content": "Hi"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
        {**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                                          "prompt_cache_hit_tokens": 2}},
        "[DONE]",
    ]  # fmt: skip
    events = decode_stream(chunks)
    assert events == [
        StreamStart("c1", "deepseek-r", 5),
        ReasoningDelta("Hm"),
        TextDelta("Hi"),
        ToolCallStart(0, "call_x", "f"),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        Finish("tool_calls"),
        UsageReport(Usage(3, 4, cached_tokens=2)),
    ]


def test_stream_decoder_tool_calls_without_index() -> None:
    """Some compatible upstreams (Gemini's) send whole calls without ``index``."""
    head = {"id": "c", "created": 1, "model": "g"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": {"x": 1}}}]},
            "finish_reason": "tool_calls"}]},
    ]  # fmt: skip
    resp = assemble(decode_stream(chunks))
    assert resp.choices[0].message.parts == [
        ToolCall("a", "f", "{}"),
        ToolCall("b", "g", '{"x":1}'),
    ]


def test_fake_upstream_stream_equals_its_response() -> None:
    """The fake OpenAI upstream's stream and whole response for one request say the same."""
    from fakes.openai_payloads import build_answer, completion, stream_chunks

    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b")]
    for body in (
        {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": "hi you"}]},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "tools": tools},
    ):
        answer = build_answer(body)
        head = {"id": "chatcmpl-1", "created": 9, "model": body["model"]}
        whole = openai_codec.decode_response(completion(head, answer, 2))
        streamed = assemble(decode_stream(stream_chunks(head, answer, 2, True)))
        assert _without_call_ids(streamed) == _without_call_ids(whole)


def _without_call_ids(resp: ChatResponse) -> ChatResponse:
    resp = copy.deepcopy(resp)
    for choice in resp.choices:
        for part in choice.message.parts:
            if isinstance(part, ToolCall):
                part.id = ""
    return resp


def test_choices_interleaved_and_lazily_opened() -> None:
    resp = ChatResponse(
        "chatcmpl-n", "m", 1,
        [Choice(0, Message("assistant", [Text("a")]), "stop"),
         Choice(1, Message("assistant", [Text("b")]), "length")],
    )  # fmt: skip
    chunks = encode_stream(_request(False), response_to_events(resp))
    opened = [c["choices"][0]["index"] for c in chunks[:-1] if "role" in c["choices"][0]["delta"]]
    assert opened == [0, 1]
    assert assemble(decode_stream(chunks)) == resp


# ---- properties -------------------------------------------------------------------------

OPENAI_REQUESTS = chat_requests(
    audio=True,
    result_names=True,  # decode names results after the calls they answer
    thinking=st.none() | thinkings(budget=False),
)
OPENAI_RESPONSES = chat_responses(
    finish_reasons=("stop", "length", "tool_calls", "content_filter"), cache_write=True
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(OPENAI_REQUESTS)
def test_request_round_trip_keeps_meaning(request: ChatRequest) -> None:
    body = openai_codec.encode_request(request)
    assert json.loads(json.dumps(body)) == body  # plain JSON
    decoded = openai_codec.decode_request(body)
    expected = copy.deepcopy(request)
    expected.include_usage = request.stream  # a translated stream always asks for usage
    if expected.tool_choice is not None and not expected.tools:
        expected.tool_choice = None
    assert decoded == expected
    assert openai_codec.encode_request(decoded) == body


@PROPERTY
@given(chat_requests(reasoning=True, signature=True, top_k=True, thinking=thinkings()))
def test_request_encode_never_fails_and_drops_what_openai_cannot_take(
    request: ChatRequest,
) -> None:
    body = openai_codec.encode_request(request)
    assert "top_k" not in body
    assert all("reasoning_content" not in m for m in body["messages"])
    decoded = openai_codec.decode_request(body)
    assert [m.role for m in decoded.messages if m.role != "assistant"] == [
        m.role for m in request.messages if m.role != "assistant"
    ]


@PROPERTY
@given(OPENAI_RESPONSES)
def test_response_round_trip(resp: ChatResponse) -> None:
    encoded = openai_codec.encode_response(resp)
    ChatCompletion.model_validate(encoded)
    assert openai_codec.decode_response(json.loads(json.dumps(encoded))) == resp


@PROPERTY
@given(OPENAI_RESPONSES, st.integers(1, 5), st.booleans())
def test_stream_encode_decode_assembles_the_response(
    resp: ChatResponse, pieces: int, include_usage: bool
) -> None:
    chunks = encode_stream(_request(include_usage), response_to_events(resp, pieces=pieces))
    assert chunks[-1] == "[DONE]"
    for chunk in chunks[:-1]:
        ChatCompletionChunk.model_validate(chunk)
    expected = resp if include_usage else dataclasses.replace(resp, usage=None)
    assert assemble(decode_stream(chunks)) == expected
    assert assemble(decode_stream(chunks)) == openai_codec.decode_response(
        openai_codec.encode_response(expected)
    )
