"""Chat completions through the gateway with the official OpenAI SDK as the client, a fake
OpenAI upstream behind it, over real HTTP on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway


@dataclass
class Route:
    model: str
    key: str
    channel: dict[str, object]


@pytest.fixture
def route(admin: Admin, upstream: FakeOpenAI) -> Route:
    model = unique_model("chat")
    channel = admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
    )
    return Route(model=model, key=admin.create_token()["key"], channel=channel)


def client(gateway: Gateway, key: str, *, v1: bool = True) -> openai.OpenAI:
    base = gateway.url + ("/v1" if v1 else "")
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=20)


def test_non_stream(gateway: Gateway, route: Route, upstream: FakeOpenAI) -> None:
    reply = client(gateway, route.key).chat.completions.create(
        model=route.model, messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == route.model
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 5)
    sent = upstream.chat_requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-upstream-test"
    assert sent.body is not None and sent.body["model"] == route.model


@pytest.mark.parametrize("v1", [True, False])
def test_base_url_with_and_without_v1(gateway: Gateway, route: Route, v1: bool) -> None:
    sdk = client(gateway, route.key, v1=v1)
    reply = sdk.chat.completions.create(
        model=route.model, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: hi"
    assert route.model in [m.id for m in sdk.models.list()]


def test_standard_and_unknown_parameters_pass_through(
    gateway: Gateway, route: Route, upstream: FakeOpenAI
) -> None:
    params = {
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 50,
        "max_completion_tokens": 60,
        "stop": ["\n\n"],
        "n": 2,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_logprobs": 2,
        "user": "end-user-1",
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
    }
    extra = {"vendor_knob": {"depth": 3}, "enable_thinking": False}
    reply = client(gateway, route.key).chat.completions.create(
        model=route.model,
        messages=[{"role": "user", "content": "hi"}],
        extra_body=extra,
        **params,  # type: ignore[arg-type]
    )
    assert len(reply.choices) == 2
    body = upstream.chat_requests[-1].body
    assert body is not None
    for name, value in {**params, **extra}.items():
        assert body[name] == value, name


def test_bytes_pass_through_when_nothing_changes(
    gateway: Gateway, route: Route, upstream: FakeOpenAI
) -> None:
    raw = (
        b'{"model": "' + route.model.encode() + b'",  "messages": [{"role": "user", '
        b'"content": "hi"}], "temperature": 1.0, "x_unknown": [1, 2.50, null]}'
    )
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=raw,
        headers={"Authorization": f"Bearer {route.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert upstream.chat_requests[-1].raw == raw


def test_stream_with_usage(gateway: Gateway, route: Route) -> None:
    chunks = list(
        client(gateway, route.key).chat.completions.create(
            model=route.model,
            messages=[{"role": "user", "content": "stream this please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! You said: stream this please"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert all(c.model == route.model for c in chunks)


def test_stream_without_usage_has_no_usage_chunk(
    gateway: Gateway, route: Route, upstream: FakeOpenAI
) -> None:
    chunks = list(
        client(gateway, route.key).chat.completions.create(
            model=route.model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The gateway still asked the upstream for usage, to meter the call.
    body = upstream.chat_requests[-1].body
    assert body is not None and body["stream_options"] == {"include_usage": True}


def test_stream_raw_sse_ends_with_done(gateway: Gateway, route: Route) -> None:
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": route.model, "stream": True, "messages": [{"role": "user", "content": "a"}]},
        headers={"Authorization": f"Bearer {route.key}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"]
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)


WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["location"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    },
]


def test_tool_calls_round_trip(gateway: Gateway, route: Route, upstream: FakeOpenAI) -> None:
    sdk = client(gateway, route.key)
    messages: list[dict[str, object]] = [{"role": "user", "content": "weather in Paris?"}]
    reply = sdk.chat.completions.create(
        model=route.model,
        messages=messages,
        tools=WEATHER_TOOLS,
        tool_choice="auto",  # type: ignore[arg-type]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"location": "Paris", "unit": "celsius"}
    assert upstream.chat_requests[-1].body["tool_choice"] == "auto"  # type: ignore[index]
    messages.append(choice.message.model_dump(exclude_none=True))
    for call in calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "22C sunny"})
    final = sdk.chat.completions.create(model=route.model, messages=messages, tools=WEATHER_TOOLS)  # type: ignore[arg-type]
    assert final.choices[0].message.content == "Tool said: 22C sunny"
    sent = upstream.chat_requests[-1].body
    assert sent is not None and sent["messages"][1]["tool_calls"][0]["id"] == calls[0].id


def test_streamed_tool_calls_reassemble(gateway: Gateway, route: Route) -> None:
    stream = client(gateway, route.key).chat.completions.create(
        model=route.model,
        messages=[{"role": "user", "content": "weather?"}],
        tools=WEATHER_TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert all(
        json.loads(c["arguments"]) == {"location": "Paris", "unit": "celsius"}
        for c in calls.values()
    )
    assert all(c["id"].startswith("call_") for c in calls.values())


def test_reasoning_content_preserved(gateway: Gateway, admin: Admin, upstream: FakeOpenAI) -> None:
    model = unique_model("deepseek-reasoner")
    admin.create_channel(
        type="deepseek", base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
    )
    key = admin.create_token()["key"]
    sdk = client(gateway, key)
    reply = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.reasoning_content == "Let me think about this."  # type: ignore[attr-defined]
    chunks = list(
        sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks
    )
    assert reasoning == "Let me think about this."


def test_model_mapping_renames_both_ways(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    public = "openai/" + unique_model("gpt")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={public: "gpt-4.1"},
    )
    sdk = client(gateway, admin.create_token()["key"])
    reply = sdk.chat.completions.create(model=public, messages=[{"role": "user", "content": "x"}])
    assert reply.model == public
    assert upstream.chat_requests[-1].body["model"] == "gpt-4.1"  # type: ignore[index]
    chunks = list(
        sdk.chat.completions.create(
            model=public, messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert {c.model for c in chunks} == {public}
    assert upstream.chat_requests[-1].body["model"] == "gpt-4.1"  # type: ignore[index]


def test_models_list_only_shows_allowed(gateway: Gateway, admin: Admin, route: Route) -> None:
    other = unique_model("other")
    admin.create_channel(
        base_url="http://127.0.0.1:9/v1", api_keys=["k-1234567890"], models=[other]
    )
    everything = [m.id for m in client(gateway, route.key).models.list()]
    assert route.model in everything and other in everything
    limited = admin.create_token(models=[route.model])["key"]
    assert [m.id for m in client(gateway, limited).models.list()] == [route.model]
    model = client(gateway, limited).models.retrieve(route.model)
    assert model.id == route.model and model.object == "model"


@pytest.mark.parametrize("how", ["bearer", "x-api-key", "x-goog-api-key", "query"])
def test_key_accepted_in_every_sdk_place(gateway: Gateway, route: Route, how: str) -> None:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if how == "bearer":
        headers["Authorization"] = f"Bearer {route.key}"
    elif how == "query":
        params["key"] = route.key
    else:
        headers[how] = route.key
    response = httpx.get(gateway.url + "/v1/models", headers=headers, params=params)
    assert response.status_code == 200
    assert route.model in [m["id"] for m in response.json()["data"]]
    assert response.json()["object"] == "list"
