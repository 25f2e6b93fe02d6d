"""``POST /v1/responses`` with the official OpenAI SDK (``responses.create`` and
``responses.stream``) against OpenAI-chat, Anthropic and Gemini channels (translated through
the IR) and a channel that serves the Responses API (bytes passed through); chat clients
against a channel that serves only the Responses API; exact books; a cut stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.gemini_upstream import FakeGemini
from fakes.loopback import Behaviour
from fakes.openai_responses import ENCRYPTED
from fakes.openai_upstream import REASONING_TEXT, TOOL_ARGUMENTS, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows, usage_statuses, wait_for_rows

from airelay.money import usd_to_units

PARIS = {"location": "Paris", "unit": "celsius"}
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}
CHANNELS = ["openai", "anthropic", "gemini", "native"]
KEYS = {
    "openai": "sk-upstream-test",
    "native": "sk-upstream-test",
    "only": "sk-upstream-test",
    "anthropic": "sk-ant-upstream-test",
    "gemini": "AIza-upstream-test",
}
PRICE = {"input": 1, "output": 2, "cached_input": 0.5}  # $ per 1M tokens


@dataclass
class Setup:
    fakes: dict[str, Any]
    models: dict[str, str]  # channel kind -> public model
    channel_ids: dict[str, str]


@pytest.fixture(scope="module")
def setup(admin: Admin) -> Iterator[Setup]:
    with (
        FakeOpenAI(name="chat") as chat,
        FakeOpenAI(name="native") as native,
        FakeOpenAI(name="only") as only,
        FakeAnthropic() as anthropic_fake,
        FakeGemini() as gemini_fake,
    ):
        fakes = {
            "openai": chat,
            "native": native,
            "only": only,
            "anthropic": anthropic_fake,
            "gemini": gemini_fake,
        }
        endpoints = {"native": ["chat", "responses"], "only": ["responses"]}
        models, ids = {}, {}
        for kind, fake in fakes.items():
            name = unique_model(f"{kind}/resp")
            fields: dict[str, Any] = {}
            if kind in endpoints:
                fields["endpoints"] = endpoints[kind]
            channel = admin.create_channel(
                type=kind if kind in ("anthropic", "gemini") else "openai",
                base_url=fake.base_url,
                api_keys=[KEYS[kind]],
                models=[],
                model_mapping={name: f"{kind}-upstream-model"},
                price=PRICE,
                **fields,
            )
            models[kind], ids[kind] = name, channel["id"]
        yield Setup(fakes, models, ids)


@pytest.fixture
def user(admin: Admin) -> dict[str, Any]:
    user = admin.create_user(balance=5)
    user["key"] = admin.create_token(user["id"])["key"]
    return user


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def last_path(setup: Setup, kind: str) -> str:
    return str(setup.fakes[kind].requests[-1].path)


def units(tokens: int, usd_per_million: float) -> int:
    return tokens * usd_to_units(usd_per_million) // 1_000_000


@pytest.mark.parametrize("kind", CHANNELS)
def test_create_text(gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str) -> None:
    client = sdk(gateway, user["key"])
    reply = client.responses.create(
        model=setup.models[kind], input="hello there", instructions="Be brief.", store=False
    )
    assert reply.output_text == "Hello! You said: hello there"
    assert reply.status == "completed"
    assert reply.object == "response" and reply.id.startswith("resp_")
    assert reply.model == setup.models[kind]
    assert reply.usage is not None and reply.usage.input_tokens > 0
    sent = setup.fakes[kind].requests[-1]
    if kind == "native":  # the client's own bytes, the model renamed
        assert sent.path == "/v1/responses"
        assert sent.body["input"] == "hello there" and sent.body["store"] is False
        assert sent.body["model"] == "native-upstream-model"
    elif kind == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    rows = usage_rows(gateway.settings.database_url, user["id"])
    assert [r["endpoint"] for r in rows] == ["/v1/responses"]
    assert rows[0]["channel_id"] == setup.channel_ids[kind]


@pytest.mark.parametrize("kind", CHANNELS)
def test_stream_text(gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str) -> None:
    client = sdk(gateway, user["key"])
    with client.responses.stream(model=setup.models[kind], input="stream me please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text == "Hello! You said: stream me please"
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for expected in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert expected in kinds, kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.usage is not None and final.usage.output_tokens > 0
    assert final.model == setup.models[kind]
    path = last_path(setup, kind)
    assert path.endswith("/responses") == (kind == "native"), path
    books = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    assert books.usage_cost > 0
    assert usage_statuses(gateway.settings.database_url, user["id"]) == [200]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", CHANNELS)
def test_function_tools_round_trip(
    gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str, stream: bool
) -> None:
    client = sdk(gateway, user["key"])
    model = setup.models[kind]
    history: list[Any] = [{"role": "user", "content": "weather in Paris?"}]

    def call(items: list[Any]) -> Any:
        if not stream:
            return client.responses.create(model=model, input=items, tools=[WEATHER])
        with client.responses.stream(model=model, input=items, tools=[WEATHER]) as events:
            seen = list(events)
            final = events.get_final_response()
        deltas = "".join(
            e.delta for e in seen if e.type == "response.function_call_arguments.delta"
        )
        if any(item.type == "function_call" for item in final.output):
            assert json.loads(deltas) == PARIS
            assert "response.function_call_arguments.done" in [e.type for e in seen]
        return final

    first = call(history)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", PARIS)]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append(
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "22C sunny"}
    )
    second = call(history)
    assert second.output_text == "Tool said: 22C sunny"
    if kind == "anthropic":  # the call and its result reached the upstream in its shape
        sent = setup.fakes[kind].requests[-1].body
        assert sent["messages"][1]["content"][-1]["type"] == "tool_use"
        assert sent["messages"][2]["content"][0]["tool_use_id"] == calls[0].call_id


def test_reasoning_and_cached_tokens_pass_through(
    gateway: Gateway, admin: Admin, setup: Setup, user: dict[str, Any]
) -> None:
    """A reasoning model on the Responses channel: the reasoning item (summary, encrypted
    content) reaches the client, the cached and reasoning tokens its usage and the books."""
    model = unique_model("native/reasoner")
    admin.create_channel(
        type="openai",
        base_url=setup.fakes["native"].base_url,
        api_keys=[KEYS["native"]],
        models=[],
        model_mapping={model: "native-reasoner"},
        endpoints=["responses"],
        price=PRICE,
    )
    client = sdk(gateway, user["key"])
    with client.responses.stream(
        model=model,
        input="think about this please",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        prompt_cache_key="session-1",
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == REASONING_TEXT
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == ENCRYPTED
    usage = final.usage
    assert usage is not None
    assert usage.input_tokens_details.cached_tokens == usage.input_tokens // 2 > 0
    assert usage.output_tokens_details.reasoning_tokens == len(REASONING_TEXT.split())
    (row,) = usage_rows(gateway.settings.database_url, user["id"])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    assert row["cached_tokens"] == usage.input_tokens_details.cached_tokens
    assert row["reasoning_tokens"] == usage.output_tokens_details.reasoning_tokens
    cached = usage.input_tokens_details.cached_tokens
    expected = -(
        -(
            (usage.input_tokens - cached) * usd_to_units(1)
            + cached * usd_to_units(0.5)
            + usage.output_tokens * usd_to_units(2)
        )
        // 1_000_000
    )
    assert row["cost"] == expected


@pytest.mark.parametrize("kind", ["openai", "native"])
def test_exact_books(
    gateway: Gateway, admin: Admin, setup: Setup, user: dict[str, Any], kind: str
) -> None:
    reply = sdk(gateway, user["key"]).responses.create(
        model=setup.models[kind], input="count these four words", max_output_tokens=100
    )
    assert reply.usage is not None
    books = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    cost = units(reply.usage.input_tokens, 1) + units(reply.usage.output_tokens, 2)
    assert books.usage_cost == cost == books.total_usage
    assert books.spendable == usd_to_units(5) - cost


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_client_reaches_a_responses_only_channel(
    gateway: Gateway, setup: Setup, user: dict[str, Any], stream: bool
) -> None:
    client = sdk(gateway, user["key"])
    model = setup.models["only"]
    messages: Any = [{"role": "user", "content": "hello there"}]
    if stream:
        chunks = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        seen = list(chunks)
        text = "".join(c.choices[0].delta.content or "" for c in seen if c.choices)
        usage = seen[-1].usage
    else:
        reply = client.chat.completions.create(model=model, messages=messages)
        text, usage = reply.choices[0].message.content or "", reply.usage
    assert text == "Hello! You said: hello there"
    assert usage is not None and usage.prompt_tokens > 0
    sent = setup.fakes["only"].requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.body["input"][0]["role"] == "user"
    assert sent.body["model"] == "only-upstream-model" and sent.body["store"] is False
    rows = usage_rows(gateway.settings.database_url, user["id"])
    assert rows[0]["endpoint"] == "/v1/chat/completions"
    assert rows[0]["prompt_tokens"] == usage.prompt_tokens


def test_chat_tools_through_a_responses_only_channel(
    gateway: Gateway, setup: Setup, user: dict[str, Any]
) -> None:
    client = sdk(gateway, user["key"])
    tools: Any = [
        {
            "type": "function",
            "function": {k: v for k, v in WEATHER.items() if k != "type"},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    first = client.chat.completions.create(
        model=setup.models["only"], messages=messages, tools=tools
    )
    calls = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", PARIS)
    ]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "22C sunny"})
    second = client.chat.completions.create(
        model=setup.models["only"], messages=messages, tools=tools
    )
    assert second.choices[0].message.content == "Tool said: 22C sunny"
    items = setup.fakes["only"].requests[-1].body["input"]
    assert [i.get("type", "message") for i in items] == [
        "message",
        "function_call",
        "function_call_output",
    ]


@pytest.mark.parametrize("kind", ["native", "openai"])
def test_cut_stream_is_recorded_as_cut(
    gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str
) -> None:
    setup.fakes[kind].script(Behaviour.drop_after(4))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/responses",
        json={"model": setup.models[kind], "input": "hello there", "stream": True},
        headers={"Authorization": f"Bearer {user['key']}"},
        timeout=30,
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.status_code == 200
    text = "\n".join(lines)
    assert "response.completed" not in text
    assert lines[-2] == "event: error" or "response.failed" in text, lines[-4:]
    assert "sk-upstream" not in text and "127.0.0.1" not in text
    assert usage_statuses(gateway.settings.database_url, user["id"]) == [502]


def test_refusals_are_openai_errors(gateway: Gateway, setup: Setup, user: dict[str, Any]) -> None:
    client = sdk(gateway, user["key"])
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model=setup.models["openai"], input="hi", previous_response_id="resp_123"
        )
    assert "not found" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=setup.models["openai"], input=[])
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model-anywhere", input="hi")
    response = httpx.post(
        gateway.url + "/responses",  # without /v1, as the SDK pointed at the bare host calls
        json={"model": setup.models["openai"], "input": "hi", "max_output_tokens": 0},
        headers={"Authorization": f"Bearer {user['key']}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_built_in_tools_pass_through_or_are_left_out(
    gateway: Gateway, setup: Setup, user: dict[str, Any]
) -> None:
    """A tool only the Responses API knows goes to a Responses upstream as it came; a model
    with no such channel is served translated without it (Codex always offers web_search),
    and a namespace's functions reach the chat upstream as plain functions."""
    namespace = {"type": "namespace", "name": "agents", "tools": [WEATHER]}
    body = {"input": "hi", "tools": [{"type": "web_search"}, namespace]}
    headers = {"Authorization": f"Bearer {user['key']}"}
    native = httpx.post(
        gateway.url + "/v1/responses",
        json={"model": setup.models["native"], **body},
        headers=headers,
        timeout=30,
    )
    assert native.status_code == 200, native.text
    assert setup.fakes["native"].requests[-1].body["tools"] == body["tools"]
    translated = httpx.post(
        gateway.url + "/v1/responses",
        json={"model": setup.models["openai"], **body},
        headers=headers,
        timeout=30,
    )
    assert translated.status_code == 200, translated.text
    sent = setup.fakes["openai"].requests[-1].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]


def test_probe_of_a_responses_only_channel(admin: Admin, setup: Setup) -> None:
    response = admin.http.post(f"/v1/admin/channels/{setup.channel_ids['only']}/test")
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True, response.json()
    sent = setup.fakes["only"].requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.body["max_output_tokens"] == 16  # the API's least


def test_untranslatable_call_goes_only_to_a_channel_of_its_format(
    gateway: Gateway, admin: Admin, setup: Setup, user: dict[str, Any]
) -> None:
    model = unique_model("mixed/resp")
    for kind, priority, fields in (
        ("openai", 1, {}),
        ("native", 2, {"endpoints": ["chat", "responses"]}),
    ):
        admin.create_channel(
            type="openai",
            base_url=setup.fakes[kind].base_url,
            api_keys=[KEYS[kind]],
            models=[model],
            priority=priority,
            price=PRICE,
            **fields,
        )
    client = sdk(gateway, user["key"])
    chat_before = len(setup.fakes["openai"].requests)
    native_before = len(setup.fakes["native"].requests)
    tools: Any = [{"type": "web_search"}]
    reply = client.responses.create(model=model, input="hello there", tools=tools)
    assert reply.output_text == "Hello! You said: hello there"
    assert len(setup.fakes["openai"].requests) == chat_before  # never tried: cannot carry it
    assert len(setup.fakes["native"].requests) == native_before + 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_custom_tool_through_a_chat_channel(
    gateway: Gateway, setup: Setup, user: dict[str, Any], stream: bool
) -> None:
    """A free-text (custom) tool, as Codex's apply_patch: a chat upstream gets a function of
    one string ``input``; its call comes back to the client as a ``custom_tool_call``."""
    client = sdk(gateway, user["key"])
    tools: Any = [{"type": "custom", "name": "apply_patch", "description": "Edit files"}]
    model = setup.models["openai"]
    if stream:
        with client.responses.stream(model=model, input="patch it", tools=tools) as events:
            kinds = [e.type for e in events]
            reply = events.get_final_response()
        assert "response.custom_tool_call_input.done" in kinds
    else:
        reply = client.responses.create(model=model, input="patch it", tools=tools)
    (item,) = reply.output
    assert item.type == "custom_tool_call" and item.name == "apply_patch"
    assert item.input == TOOL_ARGUMENTS  # the fake's arguments carry no "input": as text
    sent = setup.fakes["openai"].requests[-1].body
    function = sent["tools"][0]["function"]
    assert function["name"] == "apply_patch"
    assert function["parameters"]["required"] == ["input"]
    # The call and its output go back to the upstream as a function call and a tool result.
    history: list[Any] = [
        {"role": "user", "content": "patch it"},
        item.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": item.call_id, "output": "applied"},
    ]
    second = client.responses.create(model=model, input=history, tools=tools)
    assert second.output_text == "Tool said: applied"
    messages = setup.fakes["openai"].requests[-1].body["messages"]
    call = messages[1]["tool_calls"][0]["function"]
    assert call["name"] == "apply_patch"
    assert json.loads(call["arguments"]) == {"input": TOOL_ARGUMENTS}
