"""Calls through an ``ollama`` channel (Ollama's native ``/api/chat``, streamed as NDJSON):
the OpenAI and the Anthropic SDKs as clients, a fake Ollama server behind the gateway, and
the books on the counts its last line reports. A stream cut before its ``done`` line is
recorded as cut (502), whatever the model wrote before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import openai
import pytest
from fakes.loopback import Behaviour
from fakes.ollama_upstream import FakeOllama
from fakes.openai_payloads import TOOL_ARGUMENTS
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_statuses, wait_for_rows

from airelay.money import usd_to_units

PRICE = {"input": 3, "output": 15}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            },
        },
    }
]


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture(scope="module")
def keyed_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(api_keys=("sk-ollama-proxy",), name="keyed-ollama") as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(ollama: FakeOllama) -> None:
    ollama.reset()


@dataclass
class Route:
    model: str
    key: str
    user_id: str


def route(admin: Admin, fake: FakeOllama, upstream: str = "llama3.2", **fields: object) -> Route:
    """A public model mapped to an Ollama model on a channel without a key (unless given)."""
    model = unique_model("ollama")
    admin.create_channel(
        type="ollama",
        base_url=fake.base_url,
        models=[],
        model_mapping={model: upstream},
        price=PRICE,
        **fields,
    )
    user = admin.create_user(balance=1)
    return Route(model, admin.create_token(user["id"])["key"], user["id"])


def cost(prompt: int, completion: int) -> int:
    return prompt * 30_000 + completion * 150_000  # $3 / $15 per 1M tokens, in units


def client(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_openai_sdk_whole_answer(gateway: Gateway, admin: Admin, ollama: FakeOllama) -> None:
    r = route(admin, ollama)
    reply = client(gateway, r.key).chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=64,
        temperature=0.5,
        top_p=0.9,
        seed=7,
        stop=["END"],
    )
    assert reply.choices[0].message.content == "Hello! You said: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == r.model
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 5)
    sent = ollama.chat_requests[-1]
    assert sent.body["model"] == "llama3.2" and sent.body["stream"] is False
    assert sent.body["options"] == {
        "temperature": 0.5,
        "top_p": 0.9,
        "num_predict": 64,
        "stop": ["END"],
        "seed": 7,
    }
    assert "authorization" not in sent.headers  # a channel without a key sends none
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(2, 5) == books.total_usage
    assert books.spendable == usd_to_units(1) - cost(2, 5)


def test_openai_sdk_stream(gateway: Gateway, admin: Admin, ollama: FakeOllama) -> None:
    r = route(admin, ollama)
    chunks = client(gateway, r.key).chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": "stream this please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(chunks)
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == "Hello! You said: stream this please"
    assert len([c for c in pieces if c.choices and c.choices[0].delta.content]) >= 3
    usage = [c.usage for c in pieces if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(3, 6)]
    assert ollama.chat_requests[-1].body["stream"] is True
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(3, 6) == books.total_usage
    assert usage_statuses(gateway.settings.database_url, r.user_id) == [200]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_tools_and_the_result_turn(
    gateway: Gateway, admin: Admin, ollama: FakeOllama, stream: bool
) -> None:
    r = route(admin, ollama)
    sdk = client(gateway, r.key)
    messages: list[dict[str, object]] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        pieces = list(
            sdk.chat.completions.create(model=r.model, messages=messages, tools=TOOLS, stream=True)
        )
        deltas = [c.choices[0].delta for c in pieces if c.choices]
        calls = [call for d in deltas for call in d.tool_calls or ()]
        assert calls[0].function is not None and calls[0].function.name == "get_weather"
        arguments = "".join(c.function.arguments or "" for c in calls if c.function)
        call_id = calls[0].id
        finish = [c.choices[0].finish_reason for c in pieces if c.choices][-1]
    else:
        reply = sdk.chat.completions.create(model=r.model, messages=messages, tools=TOOLS)
        tool_calls = reply.choices[0].message.tool_calls
        assert tool_calls is not None and len(tool_calls) == 1
        call = tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        arguments, call_id, finish = (
            call.function.arguments,
            call.id,
            reply.choices[0].finish_reason,
        )
    assert json.loads(arguments) == json.loads(TOOL_ARGUMENTS)
    assert finish == "tool_calls" and call_id
    sent = ollama.chat_requests[-1].body
    assert sent["tools"] == TOOLS
    # The result goes back; Ollama gets the call as an object and the result by tool name.
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21C"},
    ]
    reply = sdk.chat.completions.create(model=r.model, messages=messages, tools=TOOLS)
    assert reply.choices[0].message.content == "Tool said: sunny, 21C"
    history = ollama.chat_requests[-1].body["messages"]
    assert history[1]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": json.loads(TOOL_ARGUMENTS)}}
    ]
    assert history[2] == {"role": "tool", "content": "sunny, 21C", "tool_name": "get_weather"}


def test_anthropic_sdk_whole_and_stream(gateway: Gateway, admin: Admin, ollama: FakeOllama) -> None:
    """An Anthropic client gets Ollama's answer translated, whole and streamed."""
    r = route(admin, ollama)
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.messages.create(
        model=r.model,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Hello! You said: hello from anthropic"
    assert reply.model == r.model and reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 6)
    sent = ollama.chat_requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["options"] == {"num_predict": 100}
    with sdk.messages.stream(
        model=r.model, max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: stream it"
    assert final.model == r.model
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 5)
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 2)
    assert books.usage_cost == cost(5, 6) + cost(2, 5) == books.total_usage


def test_reasoning_reaches_the_client(gateway: Gateway, admin: Admin, ollama: FakeOllama) -> None:
    r = route(admin, ollama, upstream="qwen3-reasoner")
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.messages.create(
        model=r.model,
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    )
    assert [block.type for block in reply.content] == ["thinking", "text"]
    assert ollama.chat_requests[-1].body["think"] is True


def test_cut_stream_is_recorded_as_cut(gateway: Gateway, admin: Admin, ollama: FakeOllama) -> None:
    """Lines that hold end marks as text, then the connection closes before ``done``."""
    r = route(admin, ollama)
    ollama.script(Behaviour.drop_after(5))
    chunks = client(gateway, r.key).chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": 'say [DONE] message_stop "done":true ok'}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        for _ in chunks:
            pass
    assert usage_statuses(gateway.settings.database_url, r.user_id) == [502]


def test_a_key_goes_as_a_bearer(gateway: Gateway, admin: Admin, keyed_ollama: FakeOllama) -> None:
    r = route(admin, keyed_ollama, api_keys=["sk-ollama-proxy"])
    reply = client(gateway, r.key).chat.completions.create(
        model=r.model, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: hi"
    assert keyed_ollama.chat_requests[-1].headers["authorization"] == "Bearer sk-ollama-proxy"


def test_an_upstream_error_is_answered_in_the_clients_shape(
    gateway: Gateway, admin: Admin, ollama: FakeOllama
) -> None:
    r = route(admin, ollama, upstream="not-pulled")
    with pytest.raises(openai.APIStatusError) as failed:
        client(gateway, r.key).chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.status_code == 502  # another channel may have pulled it
    assert "not found, try pulling it first" in failed.value.message
    assert ollama.base_url not in failed.value.response.text
