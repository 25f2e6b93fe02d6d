"""The Anthropic Messages codec: documented examples, round trips through the IR, streams
in both directions, and the official SDK's own types as the judge of what we emit."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic._error_classes import make_status_error
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SdkMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from formats.ir_strategies import canonical, chat_requests, chat_responses, thinkings
from formats.streams import assemble, response_to_events
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from airelay.formats import anthropic_codec as codec
from airelay.formats.anthropic_stream import AnthropicStreamDecoder, AnthropicStreamEncoder
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    FinishReason,
    Image,
    Message,
    Part,
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

Json = dict[str, Any]
STREAM_EVENT = TypeAdapter(RawMessageStreamEvent)


def wire(body: Json) -> Json:
    """``body`` as the other side of the connection parses it."""
    return orjson.loads(orjson.dumps(body))  # type: ignore[no-any-return]


def parse_sse(data: bytes) -> list[tuple[str, Json]]:
    """Our own stream output, parsed like a client does; every event must be named after
    its data's type."""
    assert data.endswith(b"\n\n")
    events = []
    for chunk in data.split(b"\n\n")[:-1]:
        name_line, data_line = chunk.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        name, payload = name_line[7:].decode(), orjson.loads(data_line[6:])
        assert payload["type"] == name
        events.append((name, payload))
    return events


def encode_stream(events: list[StreamEvent], request: ChatRequest | None = None) -> bytes:
    encoder = codec.stream_encoder(request or ChatRequest(model="claude-x", messages=[]))
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def decode_stream(events: list[tuple[str, Json]]) -> list[StreamEvent]:
    decoder = codec.stream_decoder()
    out = [e for name, data in events for e in decoder.feed(name, data)]
    return out + decoder.close()


def sdk_message(events: list[tuple[str, Json]]) -> Json:
    """What the official SDK's stream accumulator makes of the events."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for name, data in events:
        if name == "ping":
            continue
        event = STREAM_EVENT.validate_python(data)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    return snapshot.model_dump()


# ---- documented examples --------------------------------------------------------------------

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            },
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The unit of temperature, either 'celsius' or 'fahrenheit'",
            },
        },
        "required": ["location"],
    },
}
CALL_ID = "toolu_01A09q90qw90lq917835lq9"
THOUGHT = (
    "<thinking>I need to use get_weather, and the user wants SF, which is likely "
    "San Francisco, CA.</thinking>"
)

# From "How to implement tool use": the request that returns the tool's result.
TOOL_RESULT_REQUEST: Json = {
    "model": "claude-opus-4-6",
    "max_tokens": 1024,
    "system": "You are a helpful weather assistant.",
    "tools": [WEATHER_TOOL],
    "messages": [
        {"role": "user", "content": "What's the weather like in San Francisco?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": THOUGHT},
                {
                    "type": "tool_use",
                    "id": CALL_ID,
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": CALL_ID,
                    "content": "15 degrees",
                }
            ],
        },
    ],
}

# The documented response that asks for the tool.
TOOL_USE_RESPONSE: Json = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-6",
    "content": [
        {"type": "text", "text": THOUGHT},
        {
            "type": "tool_use",
            "id": CALL_ID,
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 89},
}

# "Streaming Messages": the basic streaming request's events.
TEXT_STREAM: list[tuple[str, Json]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-opus-4-6",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
TEXT_MESSAGE: Json = {
    "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hello!"}],
    "model": "claude-opus-4-6",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 15},
}


def _delta(index: int, delta: Json) -> tuple[str, Json]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


# "Streaming Messages": the streaming request with tool use (text, then input_json_delta).
TOOL_STREAM: list[tuple[str, Json]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-4-6",
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2},
                "content": [],
                "stop_reason": None,
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    _delta(0, {"type": "text_delta", "text": "Okay"}),
    _delta(0, {"type": "text_delta", "text": ","}),
    _delta(0, {"type": "text_delta", "text": " let"}),
    _delta(0, {"type": "text_delta", "text": "'s check the weather for San Francisco, CA:"}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    _delta(1, {"type": "input_json_delta", "partial_json": ""}),
    _delta(1, {"type": "input_json_delta", "partial_json": '{"location":'}),
    _delta(1, {"type": "input_json_delta", "partial_json": ' "San'}),
    _delta(1, {"type": "input_json_delta", "partial_json": " Francisc"}),
    _delta(1, {"type": "input_json_delta", "partial_json": "o,"}),
    _delta(1, {"type": "input_json_delta", "partial_json": ' CA"'}),
    _delta(1, {"type": "input_json_delta", "partial_json": ", "}),
    _delta(1, {"type": "input_json_delta", "partial_json": '"unit": "fah'}),
    _delta(1, {"type": "input_json_delta", "partial_json": 'renheit"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
TOOL_MESSAGE: Json = {
    "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-6",
    "content": [
        {"type": "text", "text": "Okay, let's check the weather for San Francisco, CA:"},
        {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "fahrenheit"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 89},
}


def test_documented_tool_result_request_decodes_to_the_ir() -> None:
    ir = codec.decode_request(wire(TOOL_RESULT_REQUEST))
    assert ir == ChatRequest(
        model="claude-opus-4-6",
        max_tokens=1024,
        messages=[
            Message("system", [Text("You are a helpful weather assistant.")]),
            Message("user", [Text("What's the weather like in San Francisco?")]),
            Message(
                "assistant",
                [
                    Text(THOUGHT),
                    ToolCall(
                        CALL_ID, "get_weather", '{"location":"San Francisco, CA","unit":"celsius"}'
                    ),
                ],
            ),
            Message("tool", [ToolResult(CALL_ID, [Text("15 degrees")], name="get_weather")]),
        ],
        tools=[
            Tool(
                "get_weather",
                "Get the current weather in a given location",
                WEATHER_TOOL["input_schema"],  # type: ignore[arg-type]
            )
        ],
    )


def test_documented_tool_result_request_re_encodes() -> None:
    body = codec.encode_request(codec.decode_request(wire(TOOL_RESULT_REQUEST)))
    expected = copy.deepcopy(TOOL_RESULT_REQUEST)
    # Strings become the equivalent single text block.
    expected["messages"][0]["content"] = [
        {"type": "text", "text": "What's the weather like in San Francisco?"}
    ]
    expected["messages"][2]["content"][0]["content"] = [{"type": "text", "text": "15 degrees"}]
    assert body == expected


def test_documented_tool_use_response_round_trips() -> None:
    response = codec.decode_response(wire(TOOL_USE_RESPONSE))
    assert response == ChatResponse(
        id="msg_01Aq9w938a90dw8q",
        model="claude-opus-4-6",
        created=0,
        choices=[
            Choice(
                0,
                Message(
                    "assistant",
                    [
                        Text(THOUGHT),
                        ToolCall(
                            CALL_ID,
                            "get_weather",
                            '{"location":"San Francisco, CA","unit":"celsius"}',
                        ),
                    ],
                ),
                "tool_calls",
            )
        ],
        usage=Usage(prompt_tokens=472, completion_tokens=89),
    )
    body = codec.encode_response(response)
    expected = copy.deepcopy(TOOL_USE_RESPONSE)
    expected["usage"].update(cache_creation_input_tokens=0, cache_read_input_tokens=0)
    assert body == expected
    SdkMessage.model_validate(body)


def test_documented_text_stream_decodes_event_by_event() -> None:
    assert decode_stream(TEXT_STREAM) == [
        StreamStart(
            "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
            "claude-opus-4-6",
            0,
            Usage(prompt_tokens=25, completion_tokens=1),
        ),
        TextDelta("Hello"),
        TextDelta("!"),
        Finish("stop"),
        UsageReport(Usage(prompt_tokens=25, completion_tokens=15)),
    ]


@pytest.mark.parametrize(
    ("stream", "message"), [(TEXT_STREAM, TEXT_MESSAGE), (TOOL_STREAM, TOOL_MESSAGE)]
)
def test_documented_streams_assemble_to_the_documented_message(
    stream: list[tuple[str, Json]], message: Json
) -> None:
    # Streamed arguments are the upstream's JSON text; the whole message re-serialises them.
    assert canonical(assemble(decode_stream(stream))) == canonical(codec.decode_response(message))
    # ...and the SDK agrees the events make that message.
    assert sdk_message(stream) == SdkMessage.model_validate(message).model_dump()


def test_documented_tool_stream_events() -> None:
    events = decode_stream(TOOL_STREAM)
    assert [e for e in events if isinstance(e, ToolCallStart | Finish)] == [
        ToolCallStart(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        Finish("tool_calls"),
    ]
    fragments = [e.arguments for e in events if isinstance(e, ToolCallDelta)]
    assert "" not in fragments
    assert "".join(fragments) == '{"location": "San Francisco, CA", "unit": "fahrenheit"}'


# ---- requests ---------------------------------------------------------------------------


def ask(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="claude-x", messages=list(messages), **fields)


def round_trip(request: ChatRequest) -> ChatRequest:
    return codec.decode_request(wire(codec.encode_request(request)))


def test_system_prompts_join_and_come_back() -> None:
    one = ask(Message("system", [Text("Be brief.")]), Message("user", [Text("hi")]))
    assert codec.encode_request(one)["system"] == "Be brief."
    assert round_trip(one).messages == one.messages

    two = ask(
        Message("system", [Text("Be brief.")]),
        Message("system", [Text("Be kind.")]),
        Message("user", [Text("hi")]),
    )
    assert codec.encode_request(two)["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Be kind."},
    ]
    assert round_trip(two).messages == [
        Message("system", [Text("Be brief."), Text("Be kind.")]),
        Message("user", [Text("hi")]),
    ]


def test_system_as_text_blocks_decodes_to_one_system_message() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "q"}],
    }
    assert codec.decode_request(body).messages[0] == Message("system", [Text("a")])


def test_system_messages_between_turns_decode_in_place() -> None:
    # Claude Code sends its reminders as a ``system`` message after the user's turn.
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": "top",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "system", "content": [{"type": "text", "text": "reminder"}]},
        ],
    }
    assert codec.decode_request(body).messages == [
        Message("system", [Text("top")]),
        Message("user", [Text("q")]),
        Message("system", [Text("reminder")]),
    ]
    with pytest.raises(ValueError, match=r"messages\[0\]\.content\[0\]' must be a text block"):
        codec.decode_request(
            {**body, "messages": [{"role": "system", "content": [{"type": "image"}]}]}
        )
    with pytest.raises(ValueError, match="'user', 'assistant' or 'system'"):
        codec.decode_request({**body, "messages": [{"role": "tool", "content": "x"}]})


def test_images_base64_url_and_data_url() -> None:
    request = ask(
        Message(
            "user",
            [
                Text("compare"),
                Image(data="iVBORw0KGgo=", media_type="image/jpeg"),
                Image(url="https://example.com/cat.png"),
                Image(data="R0lGODlh"),  # no media type: PNG assumed
            ],
        )
    )
    blocks = codec.encode_request(request)["messages"][0]["content"]
    assert blocks[1:] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "R0lGODlh"},
        },
    ]
    back = round_trip(request).messages[0].parts
    assert back[:3] == request.messages[0].parts[:3]
    assert back[3] == Image(data="R0lGODlh", media_type="image/png")

    data_url = ask(Message("user", [Image(url="data:image/webp;base64,UklGRg==")]))
    assert codec.encode_request(data_url)["messages"][0]["content"] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="},
        }
    ]
    with pytest.raises(ValueError, match="base64"):
        codec.encode_request(ask(Message("user", [Image(url="data:image/svg+xml,<svg/>")])))


def test_tool_calls_and_results_round_trip() -> None:
    request = ask(
        Message("user", [Text("weather in Paris and Rome?")]),
        Message(
            "assistant",
            [
                Reasoning("Two cities, two calls.", signature="EqQBCgIYAhIM"),
                Text("Checking."),
                ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
                ToolCall("toolu_2", "get_weather", '{"city":"Rome"}'),
            ],
        ),
        Message("tool", [ToolResult("toolu_1", [Text("18C")], name="get_weather")]),
        Message(
            "tool",
            [
                ToolResult(
                    "toolu_2",
                    [Text("see map"), Image(data="AAAA", media_type="image/png")],
                    name="get_weather",
                    is_error=True,
                )
            ],
        ),
        Message("user", [Text("and tomorrow?")]),
        tools=[Tool("get_weather", None, {"type": "object", "properties": {}})],
        tool_choice=ToolChoice("auto", parallel=False),
    )
    body = codec.encode_request(request)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Two cities, two calls.",
        "signature": "EqQBCgIYAhIM",
    }
    results = body["messages"][2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[1]["is_error"] is True and "is_error" not in results[0]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert round_trip(request) == dataclasses.replace(request, max_tokens=4096)


def test_unsigned_reasoning_is_dropped_and_signed_kept() -> None:
    request = ask(
        Message("user", [Text("q")]),
        Message("assistant", [Reasoning("from deepseek"), Text("a")]),
        Message("user", [Text("q2")]),
    )
    assert codec.encode_request(request)["messages"][1]["content"] == [
        {"type": "text", "text": "a"}
    ]


def test_tool_ids_are_made_safe_consistently() -> None:
    request = ask(
        Message("user", [Text("q")]),
        Message("assistant", [ToolCall("call.abc:1", "f", "not json")]),
        Message("tool", [ToolResult("call.abc:1", [Text("r")])]),
    )
    messages = codec.encode_request(request)["messages"]
    use, result = messages[1]["content"][0], messages[2]["content"][0]
    assert use == {"type": "tool_use", "id": "call_abc_1", "name": "f", "input": {}}
    assert result["tool_use_id"] == "call_abc_1"


def test_alternation_is_restored() -> None:
    request = ask(
        Message("assistant", [Text("I start")]),
        Message("user", [Text("a")]),
        Message("user", [Text("b"), Text("")]),
        Message("assistant", [Reasoning("unsigned")]),  # nothing left: dropped
        Message("user", [Text("c")]),
    )
    assert codec.encode_request(request)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": codec.PLACEHOLDER_TURN}]},
        {"role": "assistant", "content": [{"type": "text", "text": "I start"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b"},
                {"type": "text", "text": "c"},
            ],
        },
    ]


def test_parameters_map_and_defaults_apply() -> None:
    body = codec.encode_request(
        ask(
            Message("user", [Text("q")]),
            temperature=1.7,
            top_p=0.5,
            top_k=40,
            stop=["END"],
            n=3,
            seed=1,
            response_format={"type": "json_object"},
            user="u-1",
            stream=True,
        )
    )
    assert body == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
        "max_tokens": 4096,
        "temperature": 1.0,  # OpenAI's 0..2 clamped to Anthropic's 0..1
        "top_k": 40,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
        "system": codec.JSON_ONLY,  # no JSON mode without a schema: asked for in words
    }
    only_top_p = codec.encode_request(ask(Message("user", [Text("q")]), top_p=0.5))
    assert only_top_p["top_p"] == 0.5


@pytest.mark.parametrize(
    ("thinking", "budget"),
    [
        (Thinking(effort="low"), 1024),
        (Thinking(effort="medium"), 4096),
        (Thinking(effort="high"), 16384),
        (Thinking(), 4096),
        (Thinking(budget_tokens=500), 1024),
        (Thinking(budget_tokens=3000, effort="high"), 3000),
    ],
)
def test_thinking_budget_and_refused_parameters(thinking: Thinking, budget: int) -> None:
    body = codec.encode_request(
        ask(
            Message("user", [Text("q")]),
            thinking=thinking,
            max_tokens=20000,
            temperature=0.2,
            top_k=5,
            top_p=0.97,
        )
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert "temperature" not in body and "top_k" not in body
    assert body["top_p"] == 0.97
    assert body["max_tokens"] == 20000


def test_thinking_keeps_room_for_the_answer_and_yields_to_forced_tools() -> None:
    small = codec.encode_request(
        ask(Message("user", [Text("q")]), thinking=Thinking(effort="high"))
    )
    assert small["thinking"]["budget_tokens"] == 16384 and small["max_tokens"] == 16384 + 4096
    forced = codec.encode_request(
        ask(
            Message("user", [Text("q")]),
            thinking=Thinking(effort="low"),
            tools=[Tool("f", "d", {"type": "object"})],
            tool_choice=ToolChoice("tool", "f"),
        )
    )
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "tool", "name": "f"}
    unsigned_loop = codec.encode_request(
        ask(
            Message("user", [Text("q")]),
            Message("assistant", [ToolCall("c1", "f", "{}")]),
            Message("tool", [ToolResult("c1", [Text("r")])]),
            thinking=Thinking(effort="low"),
        )
    )
    # Thinking stays on: the tool loop whose signed thinking did not come back is closed
    # (its call and result told as text), as Anthropic accepts.
    assert unsigned_loop["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert unsigned_loop["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "[called the tool f with {}]"}]},
        {"role": "user", "content": [{"type": "text", "text": "[the tool f gave a result: r]"}]},
    ]


@pytest.mark.parametrize(
    ("choice", "wire_choice"),
    [
        (ToolChoice("auto"), {"type": "auto"}),
        (ToolChoice("required"), {"type": "any"}),
        (
            ToolChoice("required", parallel=True),
            {"type": "any", "disable_parallel_tool_use": False},
        ),
        (
            ToolChoice("tool", "f", parallel=False),
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
        (ToolChoice("none"), {"type": "none"}),
    ],
)
def test_tool_choice_both_ways(choice: ToolChoice, wire_choice: Json) -> None:
    request = ask(
        Message("user", [Text("q")]),
        tools=[Tool("f", None, {"type": "object"})],
        tool_choice=choice,
    )
    assert codec.encode_request(request)["tool_choice"] == wire_choice
    assert round_trip(request).tool_choice == choice


def test_tool_without_schema_type_gets_an_object_schema() -> None:
    body = codec.encode_request(ask(Message("user", [Text("q")]), tools=[Tool("f", "d", {})]))
    assert body["tools"] == [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]


def test_audio_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="audio"):
        codec.encode_request(ask(Message("user", [Audio("AAAA", "wav")])))


def test_decode_thinking_tool_choice_and_unrepresentable_blocks() -> None:
    body = {
        "model": "m",
        "max_tokens": 9000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tool_choice": {"type": "any"},
        "tools": [
            {"type": "web_search_20250305", "name": "web_search"},
            {"name": "f", "input_schema": {"type": "object"}},
        ],
        "metadata": {"user_id": "abc"},
        "stop_sequences": ["x"],
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                    },
                    {"type": "text", "text": "summarise"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "before"},
                    {"type": "tool_result", "tool_use_id": "t1"},
                    {"type": "text", "text": "after"},
                ],
            },
        ],
    }
    ir = codec.decode_request(body)
    assert ir.thinking == Thinking(budget_tokens=2048)
    assert ir.tool_choice == ToolChoice("required")
    assert ir.tools == [Tool("f", None, {"type": "object"})]
    assert (ir.user, ir.stop, ir.stream, ir.max_tokens) == ("abc", ["x"], True, 9000)
    assert ir.messages == [
        Message("user", [Text("summarise")]),
        Message(
            "assistant",
            [Reasoning("hmm", "sig"), Reasoning("", redacted="xyz"), ToolCall("t1", "f", "{}")],
        ),
        Message("user", [Text("before")]),
        Message("tool", [ToolResult("t1", [], name="f")]),
        Message("user", [Text("after")]),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"max_tokens": 1, "messages": [{"role": "user", "content": "q"}]}, "'model'"),
        ({"model": "m", "messages": [{"role": "user", "content": "q"}]}, "'max_tokens'"),
        (
            {"model": "m", "max_tokens": True, "messages": [{"role": "user", "content": "q"}]},
            "'max_tokens'",
        ),
        ({"model": "m", "max_tokens": 1, "messages": []}, "'messages'"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "tool", "content": "q"}]}, "role"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 5}]}, "content"),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": [{"type": "video"}]}],
            },
            "video",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": [{"text": "x"}]}],
            },
            "type",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ],
            },
            "source",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
                ],
            },
            "user messages",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "tool_choice": {"type": "some"},
            },
            "tool_choice",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "thinking": {"type": "enabled"},
            },
            "budget_tokens",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "tools": [{"name": "f"}],
            },
            "input_schema",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "temperature": "hot",
            },
            "temperature",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "stream": "yes",
            },
            "stream",
        ),
        (
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "q"}],
                "system": 3,
            },
            "system",
        ),
    ],
)
def test_bad_requests_get_clear_errors(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec.decode_request(body)


# ---- responses ----------------------------------------------------------------------------


def test_response_stop_reasons_both_ways() -> None:
    cases = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
    for anthropic_reason, ir_reason in cases.items():
        body = {**TEXT_MESSAGE, "stop_reason": anthropic_reason}
        assert codec.decode_response(body).choices[0].finish_reason == ir_reason
    back: dict[FinishReason | None, str] = {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
        "error": "end_turn",
        None: "end_turn",
    }
    for reason, wire_reason in back.items():
        response = ChatResponse("x", "m", 0, [Choice(0, Message("assistant", []), reason)])
        assert codec.encode_response(response)["stop_reason"] == wire_reason


def test_response_usage_ids_and_only_the_first_choice() -> None:
    response = ChatResponse(
        id="chatcmpl-9",
        model="gpt-x",
        created=1700000000,
        choices=[
            Choice(1, Message("assistant", [Text("second")]), "stop"),
            Choice(
                0,
                Message(
                    "assistant", [Reasoning("r"), Text(""), Text("first"), Image(url="https://x")]
                ),
                "length",
            ),
        ],
        usage=Usage(
            prompt_tokens=100,
            completion_tokens=7,
            cached_tokens=60,
            cache_write_tokens=10,
            reasoning_tokens=3,
        ),
    )
    body = codec.encode_response(response)
    SdkMessage.model_validate(body)
    assert body["id"] == "msg_chatcmpl-9"
    assert body["content"] == [
        {"type": "thinking", "thinking": "r", "signature": ""},
        {"type": "text", "text": "first"},
    ]
    assert body["usage"] == {
        "input_tokens": 30,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 60,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 7,
    }
    back = codec.decode_response(wire(body))
    assert back.usage == Usage(100, 7, cached_tokens=60, cache_write_tokens=10)  # no reasoning
    assert back.choices[0].message.parts == [Reasoning("r"), Text("first")]


def test_response_ignores_blocks_the_ir_cannot_carry_and_keeps_redacted_thinking() -> None:
    body = {
        **TEXT_MESSAGE,
        "content": [
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "q"},
            },
            {"type": "redacted_thinking", "data": "abc"},
            {"type": "text", "text": "answer"},
        ],
    }
    parts = codec.decode_response(body).choices[0].message.parts
    assert parts == [Reasoning("", redacted="abc"), Text("answer")]


def test_error_response_body_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Overloaded"):
        codec.decode_response(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        )


# ---- errors -------------------------------------------------------------------------------

STATUS_TYPES = {
    400: ("invalid_request_error", anthropic.BadRequestError),
    401: ("authentication_error", anthropic.AuthenticationError),
    402: ("billing_error", anthropic.PaymentRequiredError),
    403: ("permission_error", anthropic.PermissionDeniedError),
    404: ("not_found_error", anthropic.NotFoundError),
    413: ("request_too_large", anthropic.ContentTooLargeError),
    429: ("rate_limit_error", anthropic.RateLimitError),
    500: ("api_error", anthropic.InternalServerError),
    502: ("api_error", anthropic.InternalServerError),
    503: ("overloaded_error", anthropic.ServiceUnavailableError),
    504: ("timeout_error", anthropic.GatewayTimeoutError),
    529: ("overloaded_error", anthropic.OverloadedError),
}


@pytest.mark.parametrize("status", sorted(STATUS_TYPES))
def test_error_bodies_make_the_sdk_raise_its_typed_exception(status: int) -> None:
    type_, exception = STATUS_TYPES[status]
    body = codec.CODEC.error_body(status, "nope")
    assert body == {"type": "error", "error": {"type": type_, "message": "nope"}}
    if type_ != "request_too_large":  # documented, though not in the SDK's union yet
        ErrorResponse.model_validate(body)
    response = httpx2.Response(
        status, request=httpx2.Request("POST", "http://gateway/v1/messages"), json=body
    )
    error = make_status_error("nope", body=body, response=response)
    assert type(error) is exception
    assert (error.type, error.api_message) == (type_, "nope")


def test_error_type_hints() -> None:
    assert codec.error_body(400, "m", "not_found_error")["error"]["type"] == "not_found_error"
    assert codec.error_body(402, "m", "insufficient_funds")["error"]["type"] == "billing_error"
    assert codec.error_body(418, "m", "teapot")["error"]["type"] == "invalid_request_error"
    assert codec.error_body(599, "m")["error"]["type"] == "api_error"


# ---- streams ------------------------------------------------------------------------------

RICH = ChatResponse(
    id="msg_rich",
    model="claude-x",
    created=0,
    choices=[
        Choice(
            0,
            Message(
                "assistant",
                [
                    Reasoning("Let me think.", "sig-1"),
                    Text("Calling two tools."),
                    ToolCall("toolu_a", "f", '{"x":1}'),
                    ToolCall("toolu_b", "g", ""),
                ],
            ),
            "tool_calls",
        )
    ],
    usage=Usage(prompt_tokens=50, completion_tokens=20, cached_tokens=30),
)


def test_encoder_emits_the_exact_anthropic_event_order() -> None:
    events = parse_sse(encode_stream(response_to_events(RICH, pieces=2, usage_at_start=True)))
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",  # 0 thinking
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",  # 1 text
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 2 tool_use f
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 3 tool_use g, no arguments
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    starts = [data for name, data in events if name == "content_block_start"]
    assert [(s["index"], s["content_block"]) for s in starts] == [
        (0, {"type": "thinking", "thinking": "", "signature": ""}),
        (1, {"type": "text", "text": ""}),
        (2, {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}),
        (3, {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}}),
    ]
    stops = [data["index"] for name, data in events if name == "content_block_stop"]
    assert stops == [0, 1, 2, 3]
    assert events[0][1]["message"]["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 30,
        "output_tokens": 20,
    }
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 30,
            "output_tokens": 20,
        },
    }
    for name, data in events:
        if name != "ping":
            STREAM_EVENT.validate_python(data)


def test_encoded_stream_decodes_and_the_sdk_agrees() -> None:
    events = parse_sse(encode_stream(response_to_events(RICH, pieces=3)))
    expected = codec.decode_response(wire(codec.encode_response(RICH)))
    assert assemble(decode_stream(events)) == expected
    assert expected.choices[0].message.parts[3] == ToolCall("toolu_b", "g", "{}")
    assert (
        sdk_message(events) == SdkMessage.model_validate(codec.encode_response(RICH)).model_dump()
    )


def test_encoder_synthesizes_the_start_and_drops_other_choices() -> None:
    request = ChatRequest(model="claude-public", messages=[])
    events = parse_sse(
        encode_stream(
            [TextDelta("hi"), TextDelta("ignored", choice=1), Finish("length"), Finish("stop", 1)],
            request,
        )
    )
    assert [n for n, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    message = events[0][1]["message"]
    assert message["model"] == "claude-public" and message["id"].startswith("msg_")
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2][1]["usage"] == {"output_tokens": 0}


def test_encoder_turns_a_stream_error_into_an_error_event_and_stops() -> None:
    encoder = AnthropicStreamEncoder(ChatRequest(model="m", messages=[]))
    out = encoder.encode(StreamStart("msg_1", "m", 0)) + encoder.encode(TextDelta("par"))
    out += encoder.encode(StreamError("upstream went away"))
    assert encoder.encode(TextDelta("more")) == b""
    assert encoder.close() == b""
    events = parse_sse(out)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "upstream went away"}},
    )
    overloaded = AnthropicStreamEncoder(ChatRequest(model="m", messages=[]))
    raw = overloaded.encode(StreamError("busy", "overloaded_error"))
    assert parse_sse(raw)[-1][1]["error"]["type"] == "overloaded_error"


def test_encoder_starts_a_new_thinking_block_after_a_signature() -> None:
    events = parse_sse(
        encode_stream(
            [
                StreamStart("msg_1", "m", 0),
                ReasoningDelta("a"),
                ReasoningDelta("", "s1"),
                ReasoningDelta("b"),
                ReasoningDelta("", "s2"),
            ]
        )
    )
    starts = [d["index"] for n, d in events if n == "content_block_start"]
    assert starts == [0, 1]
    message = sdk_message(events)
    assert [(b["thinking"], b["signature"]) for b in message["content"]] == [
        ("a", "s1"),
        ("b", "s2"),
    ]


def test_decoder_error_ping_and_thinking_events() -> None:
    decoder = AnthropicStreamDecoder()
    assert decoder.feed("ping", {"type": "ping"}) == []
    decoder.feed("message_start", TEXT_STREAM[0][1])
    assert decoder.feed(
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
    ) == [ReasoningDelta("")]
    assert decoder.feed(
        None,
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hm"},
        },
    ) == [ReasoningDelta("hm")]
    assert decoder.feed(
        None,
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "S"},
        },
    ) == [ReasoningDelta("", "S")]
    assert decoder.feed(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ) == [StreamError("Overloaded", "overloaded_error")]
    assert decoder.close() == []


def test_decoder_close_reports_what_is_owed() -> None:
    stopped = AnthropicStreamDecoder()
    for name, data in TEXT_STREAM[:6] + TEXT_STREAM[-1:]:  # no message_delta
        stopped.feed(name, data)
    assert stopped.close() == [Finish("stop")]

    cut = AnthropicStreamDecoder()
    for name, data in TEXT_STREAM[:4]:
        cut.feed(name, data)
    assert [type(e) for e in cut.close()] == [StreamError]
    assert AnthropicStreamDecoder().close() == []


def test_decoder_merges_usage_from_start_and_delta() -> None:
    decoder = AnthropicStreamDecoder()
    start = copy.deepcopy(TEXT_STREAM[0][1])
    start["message"]["usage"] = {
        "input_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 7,
        "output_tokens": 1,
    }
    decoder.feed("message_start", start)
    events = decoder.feed(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 42, "input_tokens": 6},
        },
    )
    assert events == [
        Finish("length"),
        UsageReport(
            Usage(prompt_tokens=113, completion_tokens=42, cached_tokens=100, cache_write_tokens=7)
        ),
    ]


def test_decoder_takes_tool_input_given_whole_at_block_start() -> None:
    decoder = AnthropicStreamDecoder()
    decoder.feed("message_start", TEXT_STREAM[0][1])
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1, "é"]}}
    events = decoder.feed(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    events += decoder.feed("content_block_stop", {"type": "content_block_stop", "index": 0})
    assert events == [ToolCallStart(0, "t", "f"), ToolCallDelta(0, '{"a":[1,"é"]}')]


# ---- properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def anthropic_meaning(request: ChatRequest) -> ChatRequest:
    """What ``request`` still says after a trip through Anthropic's format: the documented
    losses and substitutions, applied to the IR."""
    messages = []
    for message in request.messages:
        parts: list[Part] = [
            p for p in message.parts if not (isinstance(p, Reasoning) and not p.signature)
        ]
        messages.append(Message(message.role, parts))
    # A JSON schema goes as ``output_config.format`` (its name and strictness are not
    # Anthropic's); a bare JSON object is asked for in the system prompt.
    fmt = request.response_format or {}
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    kept = None
    if fmt.get("type") == "json_schema" and isinstance(schema, dict):
        kept = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    elif fmt:
        if messages and messages[0].role == "system":
            messages[0] = Message("system", [*messages[0].parts, Text(codec.JSON_ONLY)])
        else:
            messages.insert(0, Message("system", [Text(codec.JSON_ONLY)]))
    request = dataclasses.replace(
        request,
        messages=messages,
        max_tokens=request.max_tokens or 4096,
        n=None,
        seed=None,
        response_format=kept,
        include_usage=False,
    )
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        request.tool_choice = ToolChoice("none")
    thinking = request.thinking
    forced = choice is not None and choice.mode in ("required", "tool")
    last_assistant = next((m for m in reversed(messages) if m.role == "assistant"), None)
    unsigned_loop = last_assistant is not None and (
        any(isinstance(p, ToolCall) for p in last_assistant.parts)
        and not isinstance(last_assistant.parts[0], Reasoning)
    )
    if thinking is not None and not forced and unsigned_loop:
        # The loop is closed as text to keep thinking on: the unit tests of
        # ``test_thinking_keeps_room_for_the_answer_and_yields_to_forced_tools`` say how.
        reject()
    if thinking is not None and not forced:
        budget = (
            thinking.budget_tokens
            or {"low": 1024, "medium": 4096, "high": 16384}[thinking.effort or "medium"]
        )
        budget = max(budget, 1024)
        assert request.max_tokens is not None
        if request.max_tokens <= budget:
            request.max_tokens += budget
        request.thinking = Thinking(budget_tokens=budget)
        request.temperature = request.top_k = None
        if request.top_p is not None and request.top_p < 0.95:
            request.top_p = None
    else:
        request.thinking = None
        if request.temperature is not None:
            request.temperature = min(request.temperature, 1.0)
            request.top_p = None
    return request


@PROPERTY
@given(
    chat_requests(
        reasoning=True,
        signature=True,
        result_names=True,  # not on the wire: recovered from the matching tool_use
        result_images=True,
        result_errors=True,
        top_k=True,
        thinking=st.none() | thinkings(budget=True, effort=True),
    )
)
def test_request_round_trip_keeps_meaning(request: ChatRequest) -> None:
    assert round_trip(request) == anthropic_meaning(request)


@PROPERTY
@given(chat_responses(max_choices=1, signature=True, reasoning_tokens=False, cache_write=True))
def test_response_round_trip(response: ChatResponse) -> None:
    body = codec.encode_response(response)
    SdkMessage.model_validate(body)
    expected = dataclasses.replace(response, id="msg_" + response.id, created=0)
    assert codec.decode_response(wire(body)) == expected


@PROPERTY
@given(
    chat_responses(max_choices=1, signature=True, reasoning_tokens=False, cache_write=True),
    st.integers(1, 4),
    st.booleans(),
)
def test_streamed_response_says_what_the_response_says(
    response: ChatResponse, pieces: int, usage_at_start: bool
) -> None:
    raw = encode_stream(response_to_events(response, pieces=pieces, usage_at_start=usage_at_start))
    events = parse_sse(raw)
    for name, data in events:
        if name != "ping":
            STREAM_EVENT.validate_python(data)
    expected = codec.decode_response(wire(codec.encode_response(response)))
    assert assemble(decode_stream(events)) == expected
    whole = SdkMessage.model_validate(codec.encode_response(response)).model_dump()
    if not usage_at_start:
        # The SDK reads the TTL split of writes from message_start only (message_delta's
        # usage has no such field): a stream whose usage comes at the end cannot set it.
        whole["usage"]["cache_creation"] = None
    assert sdk_message(events) == whole


def test_structured_output_maps_both_ways() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    openai_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = codec.encode_request(ask(Message("user", [Text("q")]), response_format=openai_format))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    expected = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    assert codec.decode_request(body).response_format == expected
    beta = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]}
    beta["output_format"] = {"type": "json_schema", "schema": schema}
    assert codec.decode_request(beta).response_format == expected
    for bad in ({"type": "json_object"}, {"type": "json_schema"}, "json"):
        with pytest.raises(ValueError, match=r"output_config\.format"):
            codec.decode_request({**beta, "output_config": {"format": bad}})
