"""Every client format to every upstream: the official OpenAI (chat completions and
Responses), Anthropic and google-genai SDKs against OpenAI, Anthropic, Gemini and
Responses-only channels (fake upstreams speaking each documented wire format), plain,
streamed, tools round trip and image input; and usage billed the same whichever pair carried
the call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.gemini_upstream import FakeGemini
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import wait_for_rows
from translation.clients import CLIENTS

PARIS = {"location": "Paris", "unit": "celsius"}
CHANNELS = ["openai", "anthropic", "gemini", "responses"]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI() as o, FakeAnthropic() as a, FakeGemini() as g, FakeOpenAI() as r:
        yield {"openai": o, "anthropic": a, "gemini": g, "responses": r}


@pytest.fixture(scope="module")
def models(admin: Admin, fakes: dict[str, Any]) -> dict[str, str]:
    """One public model per channel type, each on a channel of that type."""
    keys = {
        "openai": "sk-upstream-test",
        "anthropic": "sk-ant-upstream-test",
        "gemini": "AIza-upstream-test",
        "responses": "sk-upstream-test",
    }
    names = {}
    for kind in CHANNELS:
        name = unique_model(f"{kind}/m")
        # A channel that serves only the Responses API: every chat format reaches it.
        served = {"endpoints": ["responses"]} if kind == "responses" else {}
        admin.create_channel(
            **served,
            type="openai" if kind == "responses" else kind,
            base_url=fakes[kind].base_url,
            api_keys=[keys[kind]],
            models=[],
            model_mapping={name: f"{kind}-upstream-model"},
        )
        names[kind] = name
    return names


@pytest.fixture(scope="module")
def key(admin: Admin) -> str:
    return str(admin.create_token(admin.create_user(balance=50)["id"])["key"])


PAIRS = [(c, u) for c in CLIENTS for u in CHANNELS]
IDS = [f"{c}-to-{u}" for c, u in PAIRS]


@pytest.mark.parametrize(("client", "channel"), PAIRS, ids=IDS)
def test_plain(
    gateway: Gateway,
    models: dict[str, str],
    key: str,
    fakes: dict[str, Any],
    client: str,
    channel: str,
) -> None:
    sdk = CLIENTS[client](gateway.url, key)
    assert sdk.plain(models[channel], "hello there").text == "Hello! You said: hello there"
    sent = fakes[channel].requests[-1]
    assert f"{channel}-upstream-model" in (sent.path + json.dumps(sent.body or {}))


@pytest.mark.parametrize(("client", "channel"), PAIRS, ids=IDS)
def test_stream(
    gateway: Gateway, models: dict[str, str], key: str, client: str, channel: str
) -> None:
    sdk = CLIENTS[client](gateway.url, key)
    assert (
        sdk.stream(models[channel], "stream me please").text == "Hello! You said: stream me please"
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("client", "channel"), PAIRS, ids=IDS)
def test_tool_round_trip(
    gateway: Gateway, models: dict[str, str], key: str, client: str, channel: str, stream: bool
) -> None:
    sdk = CLIENTS[client](gateway.url, key)
    first, second = sdk.tools(models[channel], stream=stream)
    assert first.calls == [("get_weather", PARIS)]
    assert second.text == "Tool said: 22C sunny"


@pytest.mark.parametrize(("client", "channel"), PAIRS, ids=IDS)
def test_image_input(
    gateway: Gateway,
    models: dict[str, str],
    key: str,
    fakes: dict[str, Any],
    client: str,
    channel: str,
) -> None:
    sdk = CLIENTS[client](gateway.url, key)
    assert sdk.image(models[channel], "what is this").text == "Hello! You said: what is this"
    body = json.dumps(fakes[channel].requests[-1].body)
    assert "iVBORw0KGgo" in body  # the image reached the upstream, in its format


@pytest.mark.parametrize("channel", CHANNELS)
def test_usage_billed_the_same_from_every_client(
    gateway: Gateway, admin: Admin, models: dict[str, str], channel: str
) -> None:
    costs = []
    for client in CLIENTS:
        user = admin.create_user(balance=5)
        sdk = CLIENTS[client](gateway.url, admin.create_token(user["id"])["key"])
        sdk.plain(models[channel], "count these four words")
        state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
        assert state.usage_rows == 1
        costs.append(state.usage_cost)
    assert costs[0] > 0 and len(set(costs)) == 1, costs
