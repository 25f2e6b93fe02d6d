"""Thinking across formats, through the gateway with the official SDKs: a tool loop keeps its
thinking (the signature goes to the client sealed and back to the upstream that made it),
a signature never reaches another upstream (the fakes refuse foreign ones, as the real APIs
do), an OpenAI client that drops the signature still gets thinking on the turn after its
tool call, and a model the catalog marks as non-reasoning is asked for none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from fakes.anthropic_upstream import REASONING_TEXT, SIGNATURE, FakeAnthropic
from fakes.gemini_upstream import THOUGHT_SIGNATURE, FakeGemini
from google import genai
from google.genai import types
from support.admin import Admin, unique_model
from support.gateway import Gateway
from translation.clients import WEATHER

from airelay.formats.thinking import SEALED_PREFIX

SEALED = SEALED_PREFIX  # what every token the gateway hands a client starts with
TOOLS: Any = [{"type": "function", "function": WEATHER}]
ASK: Any = {"role": "user", "content": "weather in Paris?"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic() as claude, FakeAnthropic() as claude2, FakeGemini() as gemini:
        yield {"anthropic": claude, "anthropic2": claude2, "gemini": gemini}


@pytest.fixture(scope="module")
def models(admin: Admin, fakes: dict[str, Any]) -> dict[str, str]:
    """A thinking model per channel; ``anthropic2`` is a second Anthropic channel (another
    account: the first one's signatures mean nothing there)."""
    keys = {"anthropic": "sk-ant-upstream-test", "gemini": "AIza-upstream-test"}
    names = {}
    for kind, fake in fakes.items():
        name = unique_model(f"{kind}/thinker")
        channel_type = kind.rstrip("2")
        admin.create_channel(
            type=channel_type,
            base_url=fake.base_url,
            api_keys=[keys[channel_type]],
            models=[],
            model_mapping={name: f"{channel_type}-think-model"},
        )
        names[kind] = name
    plain = unique_model("anthropic/no-reasoning")
    admin.price(plain, {"input": 1, "output": 2}, reasoning=False)
    admin.create_channel(
        type="anthropic",
        base_url=fakes["anthropic"].base_url,
        api_keys=[keys["anthropic"]],
        models=[plain],
    )
    names["plain"] = plain
    return names


@pytest.fixture(scope="module")
def key(admin: Admin) -> str:
    return str(admin.create_token(admin.create_user(balance=50)["id"])["key"])


@pytest.fixture
def chat(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _result(message: Any) -> list[Any]:
    """The assistant message as the client got it (with the extra reasoning fields), and a
    tool result for each of its calls."""
    sent = message.model_dump(exclude_none=True)
    results = [
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}
        for call in message.tool_calls or ()
    ]
    return [sent, *results]


def _thinking_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] in ("thinking", "redacted_thinking")
    ]


def test_an_openai_tool_loop_keeps_anthropic_thinking(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    fake = fakes["anthropic"]
    model = models["anthropic"]
    first = chat.chat.completions.create(
        model=model, messages=[ASK], tools=TOOLS, reasoning_effort="low"
    )
    message = first.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == REASONING_TEXT
    (detail,) = extra["reasoning_details"]
    assert detail["type"] == "reasoning.text" and detail["signature"].startswith(SEALED)
    assert SIGNATURE not in first.model_dump_json()  # the raw signature never leaves
    second = chat.chat.completions.create(
        model=model, messages=[ASK, *_result(message)], tools=TOOLS, reasoning_effort="low"
    )
    assert second.choices[0].message.content == "Tool said: sunny, 21C"
    sent = fake.message_requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert _thinking_blocks(sent) == [
        {"type": "thinking", "thinking": REASONING_TEXT, "signature": SIGNATURE}
    ]


def test_a_streamed_openai_tool_loop_keeps_anthropic_thinking(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    fake = fakes["anthropic"]
    model = models["anthropic"]
    stream = chat.chat.completions.create(
        model=model, messages=[ASK], tools=TOOLS, reasoning_effort="low", stream=True
    )
    reasoning, details, calls = "", [], {}
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        reasoning += extra.get("reasoning_content") or ""
        details += extra.get("reasoning_details") or []
        for call in delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] = (call.function and call.function.name) or entry["name"]
            entry["arguments"] += (call.function and call.function.arguments) or ""
    assert reasoning == REASONING_TEXT
    assert [d["signature"][: len(SEALED)] for d in details] == [SEALED]
    assistant = {
        "role": "assistant",
        "content": None,
        "reasoning_content": reasoning,
        "reasoning_details": details,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ],
    }
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "rain"} for c in calls.values()]
    chat.chat.completions.create(
        model=model, messages=[ASK, assistant, *results], tools=TOOLS, reasoning_effort="low"
    )
    sent = fake.message_requests[-1].body
    assert "thinking" in sent
    assert _thinking_blocks(sent) == [
        {"type": "thinking", "thinking": REASONING_TEXT, "signature": SIGNATURE}
    ]


def test_thinking_stays_on_after_a_tool_call_whose_signature_did_not_come_back(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    """A client that keeps only content and tool calls (as coding agents on OpenAI-compatible
    providers do): the turn after the tool call still asks for thinking."""
    fake = fakes["anthropic"]
    model = models["anthropic"]
    first = chat.chat.completions.create(
        model=model, messages=[ASK], tools=TOOLS, reasoning_effort="medium"
    )
    message = first.choices[0].message
    bare = {"role": "assistant", "content": None, "tool_calls": message.model_dump()["tool_calls"]}
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": "fog"} for c in message.tool_calls or ()
    ]
    second = chat.chat.completions.create(
        model=model, messages=[ASK, bare, *results], tools=TOOLS, reasoning_effort="medium"
    )
    assert second.choices  # a 200: the fake refuses what Anthropic refuses
    sent = fake.message_requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert _thinking_blocks(sent) == []
    # The loop is told as text: the model still sees what it called and what came back.
    told = json.dumps(sent["messages"][1:])
    assert "[called the tool get_weather with" in told
    assert "[the tool get_weather gave a result: fog]" in told


def test_a_signature_goes_back_to_its_own_channel_only(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    first = chat.chat.completions.create(
        model=models["anthropic"], messages=[ASK], tools=TOOLS, reasoning_effort="low"
    )
    history = [ASK, *_result(first.choices[0].message)]
    token = (first.choices[0].message.model_extra or {})["reasoning_details"][0]["signature"]
    # Another Anthropic channel: the thinking goes without its signature (so not at all).
    chat.chat.completions.create(
        model=models["anthropic2"], messages=history, tools=TOOLS, reasoning_effort="low"
    )
    other = fakes["anthropic2"].message_requests[-1].body
    assert _thinking_blocks(other) == [] and "thinking" in other
    assert token not in json.dumps(other) and SIGNATURE not in json.dumps(other)
    # Gemini: no thought signature of Anthropic's (the fake would refuse it).
    chat.chat.completions.create(
        model=models["gemini"], messages=history, tools=TOOLS, reasoning_effort="low"
    )
    sent = json.dumps(fakes["gemini"].generate_requests[-1].body)
    assert SIGNATURE not in sent and token not in sent


def test_an_anthropic_tool_loop_keeps_gemini_thought_signatures(
    gateway: Gateway, key: str, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    tools: Any = [
        {"name": WEATHER["name"], "description": "w", "input_schema": WEATHER["parameters"]}
    ]
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    asked: Any = [{"role": "user", "content": "weather in Paris?"}]
    first = sdk.messages.create(
        model=models["gemini"], max_tokens=4096, tools=tools, messages=asked, thinking=thinking
    )
    signed = [b for b in first.content if b.type == "thinking"]
    assert signed and all(b.signature.startswith(SEALED) for b in signed)
    calls = [b for b in first.content if b.type == "tool_use"]
    results: Any = [{"type": "tool_result", "tool_use_id": c.id, "content": "sunny"} for c in calls]
    history: Any = [
        *asked,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": results},
    ]
    sdk.messages.create(
        model=models["gemini"], max_tokens=4096, tools=tools, messages=history, thinking=thinking
    )
    contents = fakes["gemini"].generate_requests[-1].body["contents"]
    model_turn = next(c for c in contents if c["role"] == "model")
    (call,) = [p for p in model_turn["parts"] if "functionCall" in p]
    assert call["thoughtSignature"] == THOUGHT_SIGNATURE
    # The same history sent to an Anthropic channel: Gemini's signature stays behind.
    sdk.messages.create(
        model=models["anthropic"], max_tokens=4096, tools=tools, messages=history, thinking=thinking
    )
    assert THOUGHT_SIGNATURE not in json.dumps(fakes["anthropic"].message_requests[-1].body)


def test_a_gemini_client_returns_anthropic_signatures_as_bytes(
    gateway: Gateway, key: str, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    client = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=gateway.url, api_version="v1beta")
    )
    declaration = types.FunctionDeclaration(
        name=WEATHER["name"], description="w", parameters_json_schema=WEATHER["parameters"]
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
    )
    asked = [types.Content(role="user", parts=[types.Part(text="weather in Paris?")])]
    first = client.models.generate_content(model=models["anthropic"], contents=asked, config=config)
    turn = first.candidates[0].content  # type: ignore[index]
    assert turn is not None and any(p.thought_signature for p in turn.parts or ())
    results = [
        types.Part.from_function_response(
            name=p.function_call.name or "", response={"result": "hail"}
        )
        for p in turn.parts or ()
        if p.function_call
    ]
    client.models.generate_content(
        model=models["anthropic"],
        contents=[*asked, turn, types.Content(role="user", parts=results)],
        config=config,
    )
    sent = fakes["anthropic"].message_requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert [b.get("signature") for b in _thinking_blocks(sent)] == [SIGNATURE]


def test_a_non_reasoning_model_is_asked_for_no_thinking(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    chat.chat.completions.create(model=models["plain"], messages=[ASK], reasoning_effort="high")
    assert "thinking" not in fakes["anthropic"].message_requests[-1].body
    chat.chat.completions.create(model=models["anthropic"], messages=[ASK], reasoning_effort="high")
    assert fakes["anthropic"].message_requests[-1].body["thinking"]["budget_tokens"] == 16384


def test_a_responses_tool_loop_keeps_anthropic_thinking(
    chat: openai.OpenAI, models: dict[str, str], fakes: dict[str, Any]
) -> None:
    tools: Any = [
        {"type": "function", "name": WEATHER["name"], "parameters": WEATHER["parameters"]}
    ]
    asked: Any = [{"role": "user", "content": "weather in Paris?"}]
    first = chat.responses.create(
        model=models["anthropic"], input=asked, tools=tools, reasoning={"effort": "low"}
    )
    items = [item.model_dump(exclude_none=True) for item in first.output]
    (reasoning,) = [i for i in items if i["type"] == "reasoning"]
    assert SEALED in reasoning["encrypted_content"] and SIGNATURE not in json.dumps(items)
    calls = [i for i in items if i["type"] == "function_call"]
    outputs = [
        {"type": "function_call_output", "call_id": c["call_id"], "output": "snow"} for c in calls
    ]
    chat.responses.create(
        model=models["anthropic"],
        input=[*asked, *items, *outputs],
        tools=tools,
        reasoning={"effort": "low"},
    )
    sent = fakes["anthropic"].message_requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert [b.get("signature") for b in _thinking_blocks(sent)] == [SIGNATURE]
