"""The Gemini codec: golden cases from Google's Gemini API documentation (the REST
function-calling, caching and thought-signature examples), round trips, streams parsed by
the google-genai SDK's own reader and types, and property tests."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from formats.ir_strategies import canonical, chat_requests, chat_responses, thinkings
from formats.streams import assemble, response_to_events
from google.genai import _common, errors, types
from google.genai._api_client import BaseApiClient, HttpResponse
from google.genai.models import (
    _GenerateContentParameters_to_mldev,
    _GenerateContentResponse_from_mldev,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airelay.formats import gemini_codec
from airelay.formats.codec import Codec
from airelay.formats.gemini_codec import (
    decode_count_tokens_request,
    decode_request,
    decode_response,
    encode_count_tokens_response,
    encode_request,
    encode_response,
    error_body,
    stream_decoder,
    stream_encoder,
)
from airelay.formats.gemini_stream import PLACEHOLDER_SIGNATURE, JsonArrayEncoder, response_call_id
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
from airelay.formats.sse import parse_event, split_events
from airelay.formats.usage import Usage

# ---- helpers ------------------------------------------------------------------------------

T = TypeVar("T")


def sse_chunks(data: bytes) -> list[dict[str, Any]]:
    """The chunks of an SSE body as the google-genai SDK reads them."""
    stream = HttpResponse(headers={}, response_stream=httpx.Response(200, content=data))
    return list(stream.segments())


def decode_stream(chunks: list[Any]) -> list[StreamEvent]:
    decoder = stream_decoder()
    events = [event for chunk in chunks for event in decoder.feed(None, chunk)]
    return events + decoder.close()


def encode_stream(request: ChatRequest, events: list[StreamEvent], **kw: bool) -> bytes:
    encoder = stream_encoder(request, **kw)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def sdk_response(body: dict[str, Any]) -> types.GenerateContentResponse:
    """The body as the SDK's client takes it in (strict: unknown fields fail)."""
    types.GenerateContentResponse.model_validate(body)
    converted = _GenerateContentResponse_from_mldev(copy.deepcopy(body))
    return types.GenerateContentResponse._from_response(response=converted, kwargs={})


def sdk_request(contents: list[types.Content], config: types.GenerateContentConfig) -> Any:
    """What ``client.models.generate_content`` would send, built offline by the SDK."""
    client = BaseApiClient(api_key="test-key")
    params = types._GenerateContentParameters(
        model="gemini-2.5-flash", contents=contents, config=config
    )
    body = _GenerateContentParameters_to_mldev(client, params, None, params)
    body.pop("config", None)
    body.pop("_url", None)
    # the same two steps ``Models.generate_content`` takes before it posts the body
    return json.loads(
        json.dumps(_common.encode_unserializable_types(_common.convert_to_dict(body)))
    )


def test_codec_object_satisfies_the_protocol() -> None:
    codec: Codec = gemini_codec.CODEC
    assert codec.name == "gemini"
    assert codec.decode_request is decode_request


# ---- golden cases from Google's documentation ---------------------------------------------

# The function-calling guide's lighting example, as the guide writes it (snake_case keys).
LIGHTS_REQUEST: dict[str, Any] = {
    "system_instruction": {
        "parts": [
            {
                "text": "You are a helpful lighting system bot. You can turn lights on and off, "
                "and you can set the color. Do not perform any other tasks."
            }
        ]
    },
    "tools": [
        {
            "function_declarations": [
                {"name": "enable_lights", "description": "Turn on the lighting system."},
                {
                    "name": "set_light_color",
                    "description": "Set the light color. Lights must be enabled for this to work.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "rgb_hex": {
                                "type": "string",
                                "description": "The light color as a 6-digit hex string, "
                                "e.g. ff0000 for red.",
                            }
                        },
                        "required": ["rgb_hex"],
                    },
                },
                {"name": "stop_lights", "description": "Turn off the lighting system."},
            ]
        }
    ],
    "tool_config": {"function_calling_config": {"mode": "auto"}},
    "contents": [{"role": "user", "parts": [{"text": "Turn on the lights please."}]}],
}


def test_reference_system_instruction_and_function_declarations() -> None:
    ir = decode_request(LIGHTS_REQUEST, model="gemini-2.5-flash", stream=True)
    system = LIGHTS_REQUEST["system_instruction"]["parts"][0]["text"]
    color = LIGHTS_REQUEST["tools"][0]["function_declarations"][1]
    assert ir == ChatRequest(
        model="gemini-2.5-flash",
        messages=[
            Message("system", [Text(system)]),
            Message("user", [Text("Turn on the lights please.")]),
        ],
        tools=[
            Tool("enable_lights", "Turn on the lighting system.", EMPTY_SCHEMA),
            Tool("set_light_color", color["description"], color["parameters"]),
            Tool("stop_lights", "Turn off the lighting system.", EMPTY_SCHEMA),
        ],
        tool_choice=ToolChoice("auto"),
        stream=True,
        include_usage=True,
    )
    assert encode_request(ir) == {
        "contents": [{"role": "user", "parts": [{"text": "Turn on the lights please."}]}],
        "systemInstruction": {"parts": [{"text": system}]},
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "enable_lights", "description": "Turn on the lighting system."},
                    {
                        "name": "set_light_color",
                        "description": color["description"],
                        "parametersJsonSchema": color["parameters"],
                    },
                    {"name": "stop_lights", "description": "Turn off the lighting system."},
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }


EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# The REST function-calling cookbook's single-turn answer (safety ratings left out).
THEATERS_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {
                        "functionCall": {
                            "name": "find_theaters",
                            "args": {"movie": "Barbie", "location": "Mountain View, CA"},
                        }
                    }
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}
            ],
        }
    ],
    "promptFeedback": {
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    },
}


def test_reference_response_with_function_call() -> None:
    resp = decode_response(THEATERS_RESPONSE)
    args = '{"movie":"Barbie","location":"Mountain View, CA"}'
    assert resp == ChatResponse(
        id="",
        model="",
        created=0,
        choices=[
            Choice(
                0, Message("assistant", [ToolCall("call_0", "find_theaters", args)]), "tool_calls"
            )
        ],
    )
    expected = copy.deepcopy(THEATERS_RESPONSE)
    del expected["promptFeedback"], expected["candidates"][0]["safetyRatings"]
    assert encode_response(resp) == expected
    call = sdk_response(encode_response(resp)).function_calls
    assert (
        call
        and call[0].name == "find_theaters"
        and call[0].args
        == {
            "movie": "Barbie",
            "location": "Mountain View, CA",
        }
    )


FIND_THEATERS = {
    "name": "find_theaters",
    "description": "find theaters based on location and optionally movie title which are is "
    "currently playing in theaters",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "location": {
                "type": "STRING",
                "description": "The city and state, e.g. San Francisco, CA or a zip code "
                "e.g. 95616",
            },
            "movie": {"type": "STRING", "description": "Any movie title"},
        },
        "required": ["location"],
    },
}
THEATERS_RESULT = {
    "name": "find_theaters",
    "content": {
        "movie": "Barbie",
        "theaters": [
            {
                "name": "AMC Mountain View 16",
                "address": "2000 W El Camino Real, Mountain View, CA 94040",
            },
            {"name": "Regal Edwards 14", "address": "245 Castro St, Mountain View, CA 94040"},
        ],
    },
}
# The cookbook's "calls a language model multiple times" request: the older documentation
# answers a call with a "function" role turn.
MULTI_TURN: dict[str, Any] = {
    "contents": [
        {
            "role": "user",
            "parts": [{"text": "Which theaters in Mountain View show Barbie movie?"}],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "name": "find_theaters",
                        "args": {"location": "Mountain View, CA", "movie": "Barbie"},
                    }
                }
            ],
        },
        {
            "role": "function",
            "parts": [{"functionResponse": {"name": "find_theaters", "response": THEATERS_RESULT}}],
        },
        {
            "role": "model",
            "parts": [
                {
                    "text": " OK. Barbie is showing in two theaters in Mountain View, CA: "
                    "AMC Mountain View 16 and Regal Edwards 14."
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"text": "Can we recommend some comedy movies on show in Mountain View?"}],
        },
    ],
    "tools": [{"functionDeclarations": [FIND_THEATERS]}],
}


def test_reference_multi_turn_with_function_response() -> None:
    ir = decode_request(MULTI_TURN, model="models/gemini-pro")
    turns = MULTI_TURN["contents"]
    args = '{"location":"Mountain View, CA","movie":"Barbie"}'
    result = ToolResult(
        "call_0", [Text(json.dumps(THEATERS_RESULT, separators=(",", ":")))], "find_theaters"
    )
    assert ir.model == "gemini-pro"
    assert ir.messages == [
        Message("user", [Text(turns[0]["parts"][0]["text"])]),
        Message("assistant", [ToolCall("call_0", "find_theaters", args)]),
        Message("tool", [result]),
        Message("assistant", [Text(turns[3]["parts"][0]["text"])]),
        Message("user", [Text(turns[4]["parts"][0]["text"])]),
    ]
    lowered = json.loads(json.dumps(FIND_THEATERS["parameters"]).replace("OBJECT", "object"))
    lowered = json.loads(json.dumps(lowered).replace("STRING", "string"))
    assert ir.tools == [Tool("find_theaters", FIND_THEATERS["description"], lowered)]

    body = encode_request(ir)
    expected = copy.deepcopy(turns)
    expected[1]["parts"][0]["thoughtSignature"] = PLACEHOLDER_SIGNATURE
    expected[2]["role"] = "user"
    assert body["contents"] == expected
    declaration = {k: v for k, v in FIND_THEATERS.items() if k != "parameters"}
    assert body["tools"] == [
        {"functionDeclarations": [{**declaration, "parametersJsonSchema": lowered}]}
    ]
    assert decode_request(body, model="gemini-pro") == ir  # the placeholder decodes away


# The caching guide's answer from cached content, and the thinking guide's usage fields.
CACHED_USAGE = {
    "promptTokenCount": 323388,
    "candidatesTokenCount": 397,
    "totalTokenCount": 323785,
    "cachedContentTokenCount": 323383,
}
THINKING_USAGE = {
    "promptTokenCount": 1200,
    "candidatesTokenCount": 85,
    "totalTokenCount": 1697,
    "cachedContentTokenCount": 1024,
    "thoughtsTokenCount": 412,
}


@pytest.mark.parametrize(
    ("metadata", "usage"),
    [(CACHED_USAGE, Usage(323388, 397, 323383, 0)), (THINKING_USAGE, Usage(1200, 497, 1024, 412))],
)
def test_reference_usage_metadata(metadata: dict[str, int], usage: Usage) -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}
        ],
        "usageMetadata": metadata,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mjpmaN6yLpCqz7IPp4n42Qk",
    }
    resp = decode_response(body)
    assert resp.usage == usage
    assert (resp.id, resp.model) == ("mjpmaN6yLpCqz7IPp4n42Qk", "gemini-2.5-flash")
    out = encode_response(resp)
    assert out["usageMetadata"] == metadata
    parsed = sdk_response(out).usage_metadata
    assert parsed is not None and parsed.prompt_token_count == metadata["promptTokenCount"]


def test_reference_thought_signatures() -> None:
    """Gemini 3 signs the first call of a step; a thought summary (``includeThoughts``)
    comes as a ``thought`` part and the text's signature on the text part."""
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "**Checking the flight**", "thought": True},
                        {
                            "functionCall": {"name": "check_flight", "args": {"flight": "AA100"}},
                            "thoughtSignature": "PFNpZ19BPg==",
                        },
                        {"functionCall": {"name": "book_taxi", "args": {"time": "10 AM"}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "responseId": "r-1",
    }
    resp = decode_response(body)
    assert resp.choices[0].message.parts == [
        Reasoning("**Checking the flight**", "PFNpZ19BPg=="),
        ToolCall("call_r-1_0", "check_flight", '{"flight":"AA100"}'),
        ToolCall("call_r-1_1", "book_taxi", '{"time":"10 AM"}'),
    ]
    assert encode_response(resp) == body
    # back in the history the signature stays on the call it came with
    request = ChatRequest("gemini-3-pro", [Message("user", [Text("go")]), resp.choices[0].message])
    model_turn = encode_request(request)["contents"][1]
    assert model_turn["parts"][1]["thoughtSignature"] == "PFNpZ19BPg=="
    assert "thoughtSignature" not in model_turn["parts"][2]
    texts = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "**Thinking**", "thought": True},
                        {"text": "Paris.", "thoughtSignature": "U2lnX0I="},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ]
    }
    resp = decode_response(texts)
    assert resp.choices[0].message.parts == [Reasoning("**Thinking**", "U2lnX0I="), Text("Paris.")]
    assert encode_response(resp) == texts


# Google's SSE stream with thought summaries: the text arrives in pieces, the last chunk an
# empty text part holding the signature, with the finish reason and the final usage.
STREAM_CHUNKS: list[dict[str, Any]] = [
    {
        "candidates": [
            {
                "content": {"parts": [{"text": "**Greeting**", "thought": True}], "role": "model"},
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 1},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "tTCwacuEBMvnitYP06qsgQY",
    },
    {
        "candidates": [{"content": {"parts": [{"text": "Hello!"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 1},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "tTCwacuEBMvnitYP06qsgQY",
    },
    {
        "candidates": [
            {
                "content": {"parts": [{"text": " How can I help you today?"}], "role": "model"},
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 1},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "tTCwacuEBMvnitYP06qsgQY",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "", "thoughtSignature": "AY89a18iOcFus5wr5bW5xN6z"}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 1,
            "candidatesTokenCount": 9,
            "totalTokenCount": 30,
            "thoughtsTokenCount": 20,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "tTCwacuEBMvnitYP06qsgQY",
    },
]
STREAM_WHOLE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Greeting**", "thought": True},
                    {"text": "Hello! How can I help you today?"},
                    {"text": "", "thoughtSignature": "AY89a18iOcFus5wr5bW5xN6z"},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": STREAM_CHUNKS[-1]["usageMetadata"],
    "modelVersion": "gemini-2.5-flash",
    "responseId": "tTCwacuEBMvnitYP06qsgQY",
}


def test_reference_stream_decodes_to_the_whole_response() -> None:
    wire = b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in STREAM_CHUNKS)
    chunks = [orjson.loads(parse_event(e)[1] or b"") for e in split_events(wire)]
    events = decode_stream(chunks)
    assert events[0] == StreamStart("tTCwacuEBMvnitYP06qsgQY", "gemini-2.5-flash", 0)
    assert events[-2:] == [Finish("stop"), UsageReport(Usage(1, 29, 0, 20))]
    assert sum(isinstance(e, UsageReport) for e in events) == 1
    assert assemble(events) == decode_response(STREAM_WHOLE)
    assert decode_stream([STREAM_CHUNKS]) == events  # the JSON-array mode, parsed whole


def test_stream_function_call_and_parallel_candidates() -> None:
    chunks = [
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                            {
                                "functionCall": {
                                    "id": "fc-7",
                                    "name": "get_time",
                                    "args": {"tz": "CET"},
                                }
                            },
                        ],
                        "role": "model",
                    },
                    "index": 0,
                },
                {"content": {"parts": [{"text": "It is"}], "role": "model"}, "index": 1},
            ],
            "responseId": "abc",
        },
        {
            "candidates": [
                {"finishReason": "STOP", "index": 0},
                {
                    "content": {"parts": [{"text": " sunny."}], "role": "model"},
                    "finishReason": "MAX_TOKENS",
                    "index": 1,
                },
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7},
            "responseId": "abc",
        },
    ]
    events = decode_stream(chunks)
    assert events[1:4] == [
        ToolCallStart(0, "call_abc_0", "get_weather"),
        ToolCallDelta(0, '{"city":"Paris"}'),
        ToolCallStart(1, "fc-7", "get_time"),
    ]
    assert Finish("tool_calls", 0) in events and Finish("length", 1) in events
    assert events[-1] == UsageReport(Usage(5, 7))
    resp = assemble(events)
    assert [c.finish_reason for c in resp.choices] == ["tool_calls", "length"]
    assert resp.choices[1].message.parts == [Text("It is sunny.")]


def test_stream_decoder_errors_blocks_and_cut_streams() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    assert decode_stream([error]) == [
        StreamError("The model is overloaded.", "service_unavailable")
    ]
    assert decode_stream([{"error": "boom"}]) == [StreamError('"boom"', "upstream_error")]
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3},
    }
    assert decode_stream([blocked])[1:] == [Finish("content_filter"), UsageReport(Usage(3))]
    cut = [{"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "usageMetadata": {}}]
    # no Finish is invented for a stream that ended early; usage still comes on close
    assert decode_stream(cut)[1:] == [TextDelta("Hel"), UsageReport(Usage())]


# ---- requests -----------------------------------------------------------------------------


def test_request_built_by_the_sdk_decodes() -> None:
    """What google-genai sends: a mix of camelCase and snake_case keys, bytes in base64."""
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather of a city",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING, nullable=True)},
            required=["city"],
        ),
    )
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        max_output_tokens=256,
        stop_sequences=["END"],
        candidate_count=2,
        seed=7,
        response_mime_type="application/json",
        response_json_schema={"type": "object"},
        thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
        tools=[types.Tool(function_declarations=[weather])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"]
            )
        ),
    )
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part(text="Weather here?"),
                types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG")),
                types.Part(inline_data=types.Blob(mime_type="audio/mpeg", data=b"ID3")),
                types.Part(
                    file_data=types.FileData(
                        mime_type="application/pdf", file_uri="https://example.com/a.pdf"
                    )
                ),
            ],
        ),
        types.Content(
            role="model",
            parts=[
                types.Part(text="Looking at it.", thought=True, thought_signature=b"sig"),
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"})
                ),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"output": "rain"}
                    )
                )
            ],
        ),
    ]
    ir = decode_request(sdk_request(contents, config), model="gemini-2.5-flash")
    assert ir.messages == [
        Message("system", [Text("Be brief.")]),
        Message(
            "user",
            [
                Text("Weather here?"),
                Image(data="iVBORw==", media_type="image/png"),
                Audio("SUQz", "mp3"),
                Image(url="https://example.com/a.pdf", media_type="application/pdf"),
            ],
        ),
        Message(
            "assistant",
            [
                Reasoning("Looking at it.", "c2ln"),
                ToolCall("call_0", "get_weather", '{"city":"Oslo"}'),
            ],
        ),
        Message("tool", [ToolResult("call_0", [Text('{"output":"rain"}')], "get_weather")]),
    ]
    assert (ir.temperature, ir.top_p, ir.top_k, ir.max_tokens) == (0.5, 0.9, 40, 256)
    assert (ir.stop, ir.n, ir.seed) == (["END"], 2, 7)
    assert ir.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }
    assert ir.thinking == Thinking(budget_tokens=2048, include=True)
    assert ir.tool_choice == ToolChoice("tool", name="get_weather")
    assert ir.tools == [
        Tool(
            "get_weather",
            "Weather of a city",
            {
                "type": "object",
                "properties": {"city": {"type": ["string", "null"]}},
                "required": ["city"],
            },
        )
    ]


RICH_REQUEST = ChatRequest(
    model="gemini-2.5-pro",
    messages=[
        Message("system", [Text("Be brief.")]),
        Message("system", [Text("Answer in French.")]),
        Message(
            "user",
            [
                Text("What is in these?"),
                Image(url="data:image/png;base64,iVBORw0KGgo="),
                Image(url="https://example.com/cat.webp"),
                Image(url="https://example.com/photo"),
                Audio("UklGRg==", "wav"),
            ],
        ),
        Message(
            "assistant",
            [
                Reasoning("unsigned thoughts are not sent back"),
                Text("Let me look."),
                ToolCall("toolu_01", "lookup", '{"q": "cat"}'),
                ToolCall("toolu_02", "broken", "{not json"),
            ],
        ),
        Message("tool", [ToolResult("toolu_01", [Text("a cat")])]),
        Message("tool", [ToolResult("toolu_02", [Text('{"ok": false}')], is_error=True)]),
        Message("user", [Text("Thanks")]),
    ],
    max_tokens=100,
    temperature=0.2,
    top_p=0.8,
    top_k=20,
    stop=["\n\n"],
    n=1,
    seed=3,
    tools=[Tool("lookup", "Look up", {"type": "object", "properties": {"q": {"type": "string"}}})],
    tool_choice=ToolChoice("required"),
    thinking=Thinking(effort="medium"),
    response_format={"type": "json_object"},
    user="u1",
)


def test_encode_request_maps_every_part_and_parameter() -> None:
    body = encode_request(RICH_REQUEST)
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Answer in French."}]
    }
    user, model, results = body["contents"]
    assert user == {
        "role": "user",
        "parts": [
            {"text": "What is in these?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        ],
    }
    assert model == {
        "role": "model",
        "parts": [
            {"text": "Let me look."},
            {
                "functionCall": {"name": "lookup", "args": {"q": "cat"}, "id": "toolu_01"},
                "thoughtSignature": PLACEHOLDER_SIGNATURE,
            },
            {"functionCall": {"name": "broken", "args": {}, "id": "toolu_02"}},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "lookup",
                    "id": "toolu_01",
                    "response": {"result": "a cat"},
                }
            },
            {"functionResponse": {"name": "broken", "id": "toolu_02", "response": {"ok": False}}},
            {"text": "Thanks"},
        ],
    }
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.8,
        "topK": 20,
        "maxOutputTokens": 100,
        "stopSequences": ["\n\n"],
        "candidateCount": 1,
        "seed": 3,
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    # the SDK's own types take every piece (they refuse unknown fields)
    for content in body["contents"]:
        types.Content.model_validate(content)
    types.Content.model_validate(body["systemInstruction"])
    types.GenerationConfig.model_validate(body["generationConfig"])
    types.Tool.model_validate(body["tools"][0])
    types.ToolConfig.model_validate(body["toolConfig"])


def test_round_trip_keeps_meaning() -> None:
    back = decode_request(encode_request(RICH_REQUEST), model="gemini-2.5-pro")
    assert back.messages[0] == Message("system", [Text("Be brief."), Text("Answer in French.")])
    assert back.messages[1].parts[2] == Image(
        url="https://example.com/cat.webp", media_type="image/webp"
    )
    assert back.messages[2] == Message(
        "assistant",
        [
            Text("Let me look."),
            ToolCall("toolu_01", "lookup", '{"q":"cat"}'),
            ToolCall("toolu_02", "broken", "{}"),
        ],
    )
    assert back.messages[3:] == [
        Message("tool", [ToolResult("toolu_01", [Text("a cat")], "lookup")]),
        Message("tool", [ToolResult("toolu_02", [Text('{"ok":false}')], "broken")]),
        Message("user", [Text("Thanks")]),
    ]
    assert back.thinking == Thinking(budget_tokens=8192, include=True)
    assert back.response_format == {"type": "json_object"}
    assert back.tool_choice == ToolChoice("required")


@pytest.mark.parametrize(
    ("thinking", "config"),
    [
        (Thinking(effort="low"), {"thinkingBudget": 1024, "includeThoughts": True}),
        (Thinking(effort="high", include=False), {"thinkingBudget": 24576}),
        (Thinking(budget_tokens=0, include=False), {"thinkingBudget": 0}),
        (
            Thinking(budget_tokens=500, effort="high"),
            {"thinkingBudget": 500, "includeThoughts": True},
        ),
    ],
)
def test_thinking_to_thinking_config(thinking: Thinking, config: dict[str, Any]) -> None:
    request = ChatRequest("m", [Message("user", [Text("hi")])], thinking=thinking)
    assert encode_request(request)["generationConfig"]["thinkingConfig"] == config


def test_thinking_levels_and_dynamic_budget_decode() -> None:
    def thinking(cfg: dict[str, Any]) -> Thinking | None:
        body = {
            "contents": [{"parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": cfg},
        }
        return decode_request(body, model="m").thinking

    assert thinking({"thinkingLevel": "HIGH"}) == Thinking(effort="high", include=False)
    assert thinking({"thinkingLevel": "minimal"}) == Thinking(effort="low", include=False)
    assert thinking({"thinkingBudget": -1, "includeThoughts": True}) == Thinking(include=True)


def test_tool_choices_both_ways() -> None:
    tools = [Tool("a", None, EMPTY_SCHEMA), Tool("b", None, EMPTY_SCHEMA)]
    for choice, config in [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice("tool", "b"), {"mode": "ANY", "allowedFunctionNames": ["b"]}),
    ]:
        request = ChatRequest("m", [Message("user", [Text("x")])], tools=tools, tool_choice=choice)
        body = encode_request(request)
        assert body["toolConfig"] == {"functionCallingConfig": config}
        assert decode_request(body, model="m").tool_choice == choice
    many = {
        "contents": [{"parts": [{"text": "x"}]}],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}
        },
    }
    assert decode_request(many, model="m").tool_choice == ToolChoice("required")
    search = {"contents": [{"parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}
    assert decode_request(search, model="m").tools is None


def test_function_responses_match_calls_by_id_then_name() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "two lookups"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "lookup", "args": {"q": 1}}},
                    {"functionCall": {"name": "lookup", "args": {"q": 2}}},
                    {"functionCall": {"id": "x9", "name": "other", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "x9", "name": "other", "response": {"v": 0}}},
                    {"functionResponse": {"name": "lookup", "response": {"v": 1}}},
                    {"functionResponse": {"name": "lookup", "response": {"v": 2}}},
                    {"text": "and?"},
                ],
            },
        ]
    }
    messages = decode_request(body, model="m").messages
    assert [m.parts[0].call_id for m in messages[2:5]] == ["x9", "call_0", "call_1"]  # type: ignore[union-attr]
    assert messages[5] == Message("user", [Text("and?")])
    # encoding leaves out the ids it would make up again and keeps the given one
    back = encode_request(decode_request(body, model="m"))
    assert back["contents"][1]["parts"][0] == {
        "functionCall": {"name": "lookup", "args": {"q": 1}},
        "thoughtSignature": PLACEHOLDER_SIGNATURE,
    }
    assert back["contents"][1]["parts"][2] == {
        "functionCall": {"name": "other", "args": {}, "id": "x9"}
    }
    assert back["contents"][2]["parts"][:2] == [
        {"functionResponse": {"name": "other", "id": "x9", "response": {"v": 0}}},
        {"functionResponse": {"name": "lookup", "response": {"v": 1}}},
    ]


def test_tool_result_images_and_errors_travel_in_the_function_response() -> None:
    call = ToolCall("call_0", "shot", "{}")
    result = ToolResult(
        "call_0",
        [Text("failed"), Image(data="AAAA", media_type="image/png")],
        is_error=True,
    )
    request = ChatRequest(
        "m", [Message("user", [Text("x")]), Message("assistant", [call]), Message("tool", [result])]
    )
    response = encode_request(request)["contents"][2]["parts"][0]["functionResponse"]
    assert response == {
        "name": "shot",
        "response": {"error": "failed"},
        "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}],
    }
    types.FunctionResponse.model_validate(response)
    back = decode_request(encode_request(request), model="m").messages[2].parts[0]
    assert back == ToolResult(
        "call_0",
        [Text("failed"), Image(data="AAAA", media_type="image/png")],
        "shot",
        is_error=True,
    )


def test_system_only_request_gets_a_user_turn() -> None:
    request = ChatRequest("m", [Message("system", [Text("Say hi.")])])
    assert encode_request(request)["contents"] == [{"role": "user", "parts": [{"text": "."}]}]


def test_plain_string_system_instruction_and_single_content_object() -> None:
    body = {"systemInstruction": "Be kind.", "contents": {"parts": {"text": "hi"}}}
    assert decode_request(body, model="m").messages == [
        Message("system", [Text("Be kind.")]),
        Message("user", [Text("hi")]),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"contents": [{"parts": [{"text": "x"}]}], "model": ""}, "model"),
        ({}, "'contents' is required"),
        ({"contents": []}, "'contents' is required"),
        ({"contents": ["hi"]}, r"'contents\[0\]' must be an object"),
        ({"contents": [{"role": "assistant", "parts": []}]}, "'user' or 'model'"),
        ({"contents": [{"role": "user", "parts": "hi"}]}, "parts' must be an array"),
        ({"contents": [{"parts": ["hi"]}]}, r"parts\[0\]' must be an object"),
        ({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}, "functionCall.name"),
        (
            {"contents": [{"parts": [{"functionResponse": {"response": {}}}]}]},
            "functionResponse.name",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": []}, "generationConfig"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}},
            "temperature",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": -5}},
            "maxOutputTokens",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"stopSequences": "x"}},
            "stopSequences",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "tools": {}}, "'tools' must be an array"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{}]}]},
            "name' is required",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": 5}, "systemInstruction"),
    ],
)
def test_decode_request_rejects_invalid_input(body: Any, message: str) -> None:
    model = None if isinstance(body, dict) and "model" in body else "m"
    with pytest.raises(ValueError, match=message):
        decode_request(body, model=model)


def test_count_tokens_bodies() -> None:
    inner = {"model": "models/gemini-2.5-flash", **MULTI_TURN}
    ir = decode_count_tokens_request({"generateContentRequest": inner}, model="gemini-2.5-flash")
    assert ir.model == "gemini-2.5-flash" and len(ir.messages) == 5 and ir.tools
    plain = decode_count_tokens_request({"contents": MULTI_TURN["contents"]}, model="g")
    assert plain.messages == ir.messages
    out = encode_count_tokens_response(31, cached_tokens=8)
    assert out == {"totalTokens": 31, "cachedContentTokenCount": 8}
    assert types.CountTokensResponse.model_validate(out).total_tokens == 31


# ---- responses and errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "ir", "back"),
    [
        ("STOP", "stop", "STOP"),
        ("MAX_TOKENS", "length", "MAX_TOKENS"),
        ("SAFETY", "content_filter", "SAFETY"),
        ("RECITATION", "content_filter", "SAFETY"),
        ("BLOCKLIST", "content_filter", "SAFETY"),
        ("PROHIBITED_CONTENT", "content_filter", "SAFETY"),
        ("SPII", "content_filter", "SAFETY"),
        ("MALFORMED_FUNCTION_CALL", "stop", "STOP"),
        ("OTHER", "stop", "STOP"),
    ],
)
def test_finish_reasons(wire: str, ir: str, back: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": wire}]}
    resp = decode_response(body)
    assert resp.choices[0].finish_reason == ir
    assert encode_response(resp)["candidates"][0]["finishReason"] == back


def test_blocked_prompt_and_error_bodies() -> None:
    blocked = decode_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked.choices == [Choice(0, Message("assistant", []), "content_filter")]
    with pytest.raises(ValueError, match="quota"):
        decode_response(
            {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
        )
    with pytest.raises(ValueError):
        decode_response([])


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (400, "INVALID_ARGUMENT", errors.ClientError),
        (401, "UNAUTHENTICATED", errors.ClientError),
        (402, "FAILED_PRECONDITION", errors.ClientError),
        (403, "PERMISSION_DENIED", errors.ClientError),
        (404, "NOT_FOUND", errors.ClientError),
        (413, "INVALID_ARGUMENT", errors.ClientError),
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (502, "UNAVAILABLE", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
        (504, "DEADLINE_EXCEEDED", errors.ServerError),
    ],
)
def test_error_body_raises_the_sdk_exception(status: int, name: str, kind: type[Exception]) -> None:
    body = error_body(status, "nope", "insufficient_funds" if status == 402 else None)
    assert body["error"]["status"] == name and body["error"]["code"] == status
    with pytest.raises(kind) as raised:
        errors.APIError.raise_error(status, body, None)
    assert isinstance(raised.value, errors.APIError)
    assert (raised.value.code, raised.value.status, raised.value.message) == (status, name, "nope")


# ---- stream encoder -------------------------------------------------------------------------


def test_stream_encoder_exact_chunks() -> None:
    request = ChatRequest("gemini-2.5-flash", [Message("user", [Text("hi")])], stream=True)
    events: list[StreamEvent] = [
        StreamStart("resp-1", "gemini-2.5-flash", 0),
        TextDelta("Hel"),
        ToolCallStart(0, "call_resp-1_0", "f", 0),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        Finish("tool_calls"),
        UsageReport(Usage(3, 5, 0, 2)),
    ]
    wire = encode_stream(request, events)
    assert wire.endswith(b"\r\n\r\n") and wire.count(b"data: ") == 3
    chunks = sse_chunks(wire)
    stamp = {"modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}
    assert chunks == [
        {
            "candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
            **stamp,
        },
        {
            "candidates": [
                {
                    "content": {
                        "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}],
                        "role": "model",
                    },
                    "index": 0,
                }
            ],
            **stamp,
        },
        {
            "candidates": [{"finishReason": "STOP", "index": 0}],
            "usageMetadata": {
                "promptTokenCount": 3,
                "candidatesTokenCount": 3,
                "totalTokenCount": 8,
                "thoughtsTokenCount": 2,
            },
            **stamp,
        },
    ]
    for chunk in chunks:
        types.GenerateContentResponse.model_validate(chunk)
    array = encode_stream(request, events, json_array=True)
    assert array.startswith(b"[{") and array.endswith(b"}]") and array.count(b",\r\n{") == 2
    assert orjson.loads(array) == chunks
    empty = JsonArrayEncoder(request)
    assert empty.close() == b"[]" and empty.close() == b""


def test_stream_encoder_error_and_pending_signature() -> None:
    request = ChatRequest("m", [Message("user", [Text("hi")])])
    encoder = stream_encoder(request)
    encoder.encode(StreamStart("r", "m", 0))
    assert encoder.encode(ReasoningDelta("", "c2ln")) == b""
    signed = sse_chunks(encoder.encode(TextDelta("ok")))[0]["candidates"][0]["content"]["parts"]
    assert signed == [{"text": "ok", "thoughtSignature": "c2ln"}]
    error = sse_chunks(encoder.encode(StreamError("boom", "upstream_error")))[0]
    assert error["error"]["message"] == "boom" and error["error"]["code"] == 502
    assert decode_stream([error]) == [StreamError("boom", "service_unavailable")]
    limited = sse_chunks(encoder.encode(StreamError("slow down", "rate_limit_error")))[0]
    assert (limited["error"]["code"], limited["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert decode_stream([limited]) == [StreamError("slow down", "rate_limit_error")]


# ---- properties -----------------------------------------------------------------------------

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GEMINI_REQUESTS = chat_requests(
    audio=True,
    reasoning=True,
    signature=True,
    result_names=True,
    result_images=True,
    result_errors=True,
    top_k=True,
    parallel=False,
    thinking=st.none() | thinkings(effort=False, include=True),
)


def positional_ids(request: ChatRequest) -> ChatRequest:
    """The request with call ids as decoding a Gemini body without ids makes them."""
    request = copy.deepcopy(request)
    renamed: dict[str, str] = {}  # the latest call of an id (the strategies may reuse one)
    number = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ToolCall):
                renamed[part.id] = part.id = f"call_{number}"
                number += 1
            elif isinstance(part, ToolResult):
                part.call_id = renamed[part.call_id]
    return request


def gemini_view(request: ChatRequest) -> ChatRequest:
    """What a Gemini body keeps of a request (the documented losses)."""
    request = copy.deepcopy(request)
    request.user = None
    request.include_usage = request.stream
    if request.tool_choice is not None:
        request.tool_choice.parallel = None
    fmt = request.response_format
    if fmt is not None and fmt["type"] == "json_schema":
        schema = fmt["json_schema"]["schema"]
        request.response_format = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        }
    for message in request.messages:
        message.parts = [
            p for p in message.parts if not (isinstance(p, Reasoning) and not p.signature)
        ]
        for part in message.parts:
            if isinstance(part, Image) and part.url:
                part.media_type = "image/png" if part.url.endswith(".png") else "image/jpeg"
            if isinstance(part, ToolResult):
                part.content[0] = Text(result_view(part.content[0].text))  # type: ignore[union-attr]
                for extra in part.content[1:]:
                    if isinstance(extra, Image) and extra.url:
                        extra.media_type = (
                            "image/png" if extra.url.endswith(".png") else "image/jpeg"
                        )
    return request


def result_view(text: str) -> str:
    """A tool result's text after a trip through Gemini: an object goes as itself (compact),
    other text as ``{"result": text}``, and a one-key result/error object of text comes
    back as that text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, dict):
        return text
    if len(parsed) == 1:
        ((key, value),) = parsed.items()
        if key in ("result", "error") and isinstance(value, str):
            return value
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


@PROPERTY
@given(GEMINI_REQUESTS, st.booleans())
def test_request_round_trip(request: ChatRequest, positional: bool) -> None:
    request = b64_signatures(positional_ids(request) if positional else request)
    body = encode_request(request)
    back = decode_request(
        orjson.loads(orjson.dumps(body)), model=request.model, stream=request.stream
    )
    assert canonical(back) == canonical(gemini_view(request))
    for content in body["contents"]:
        types.Content.model_validate(content)
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])


GEMINI_RESPONSES = chat_responses(signature=True, id_prefix="resp-")


def b64_signatures(value: T) -> T:
    """Signatures as Gemini makes them: base64 (the SDK's types decode them to bytes)."""
    value = copy.deepcopy(value)
    messages = (
        value.messages
        if isinstance(value, ChatRequest)
        else [c.message for c in value.choices]
        if isinstance(value, ChatResponse)
        else []
    )
    for message in messages:
        for part in message.parts:
            if isinstance(part, Reasoning) and part.signature:
                part.signature = base64.b64encode(part.signature.encode()).decode()
    return value


def gemini_response(resp: ChatResponse, implied: bool) -> ChatResponse:
    """With ``implied``, the call ids are those decoding makes up when Gemini gives none."""
    resp = b64_signatures(resp)
    return implied_ids(resp) if implied else resp


def implied_ids(resp: ChatResponse) -> ChatResponse:
    resp = copy.deepcopy(resp)
    for choice in resp.choices:
        calls = [p for p in choice.message.parts if isinstance(p, ToolCall)]
        for number, call in enumerate(calls):
            call.id = response_call_id(resp.id, number)
    return resp


def expected_response(resp: ChatResponse) -> ChatResponse:
    out = canonical(resp)
    out.created = 0
    return out


@PROPERTY
@given(GEMINI_RESPONSES, st.booleans())
def test_response_round_trip(resp: ChatResponse, implied: bool) -> None:
    resp = gemini_response(resp, implied)
    body = encode_response(resp)
    assert canonical(decode_response(orjson.loads(orjson.dumps(body)))) == expected_response(resp)
    sdk_response(body)


@PROPERTY
@given(GEMINI_RESPONSES, st.integers(1, 4), st.booleans(), st.booleans())
def test_stream_encode_decode_assembles_the_response(
    resp: ChatResponse, pieces: int, usage_at_start: bool, implied: bool
) -> None:
    resp = gemini_response(resp, implied)
    request = ChatRequest(resp.model, [Message("user", [Text("hi")])], stream=True)
    events = response_to_events(resp, pieces=pieces, usage_at_start=usage_at_start)
    chunks = sse_chunks(encode_stream(request, events))
    for chunk in chunks:
        sdk_response(chunk)
    assembled = assemble(decode_stream(chunks))
    assert canonical(assembled) == expected_response(resp)
    # the same as the whole response says, and the same again in JSON-array mode
    assert canonical(assembled) == canonical(decode_response(encode_response(resp)))
    array = orjson.loads(encode_stream(request, events, json_array=True))
    assert array == chunks
