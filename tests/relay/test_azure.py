"""Calls through ``azure`` channels: the OpenAI and Anthropic SDKs as clients, a fake Azure
OpenAI resource behind the gateway (deployments API with ``api-version``, and the v1 API), by
API key or by Entra ID client credentials whose tokens a fake Entra token endpoint issues;
whole and streamed, Responses and embeddings on v1; a token endpoint that fails answered as a
clear 502 without the client secret."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anthropic
import openai
import orjson
import pytest
from fakes.azure_upstream import FakeAzure
from fakes.token_servers import FakeEntra
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import wait_for_rows

from airelay.providers import azure

API_KEY = "0123456789abcdef0123456789abcdef"
DEPLOYMENT = "gpt-4o-mini-prod"


@pytest.fixture(scope="module")
def entra() -> Iterator[FakeEntra]:
    with FakeEntra() as server:
        yield server


@pytest.fixture(scope="module")
def upstream_azure(entra: FakeEntra) -> Iterator[FakeAzure]:
    with FakeAzure(entra, api_keys=(API_KEY,)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(upstream_azure: FakeAzure, entra: FakeEntra) -> Iterator[None]:
    upstream_azure.reset()
    entra.expires_in = 3600
    yield
    azure.TOKENS.clock = time.monotonic


@dataclass
class Route:
    model: str
    key: str
    user_id: str
    channel: dict[str, object]


def entra_key(entra: FakeEntra) -> tuple[str, str]:
    """A channel key for a new application on the fake, and its client secret."""
    tenant, client, secret = entra.application()
    key = {
        "tenant_id": tenant,
        "client_id": client,
        "client_secret": secret,
        "authority": entra.authority,
    }
    return orjson.dumps(key).decode(), secret


def route(
    admin: Admin, base_url: str, key: str, upstream_model: str = DEPLOYMENT, **fields: object
) -> Route:
    model = unique_model("azure")
    channel = admin.create_channel(
        type="azure",
        base_url=base_url,
        api_keys=[key],
        models=[],
        model_mapping={model: upstream_model},
        **fields,
    )
    user = admin.create_user(balance=1)
    return Route(model, admin.create_token(user["id"])["key"], user["id"], channel)


def _openai(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _requests_for(entra: FakeEntra, key: str) -> Callable[[], int]:
    client_id = str(orjson.loads(key)["client_id"])
    return lambda: entra.requests_of(client_id)


def test_an_api_key_on_the_deployments_api_whole_and_streamed(
    gateway: Gateway, admin: Admin, upstream_azure: FakeAzure
) -> None:
    r = route(admin, upstream_azure.endpoint, API_KEY)
    sdk = _openai(gateway, r.key)
    reply = sdk.chat.completions.create(
        model=r.model, messages=[{"role": "user", "content": "hello azure"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: hello azure"
    assert reply.model == r.model
    chunks = sdk.chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": "stream azure"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(chunks)
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == "Hello! You said: stream azure"
    sent = upstream_azure.chat_requests
    assert [s.path for s in sent] == [
        f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21"
    ] * 2
    assert all(s.headers["api-key"] == API_KEY for s in sent)
    assert all("authorization" not in s.headers for s in sent)
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 2)
    assert books.usage_rows == 2 and books.usage_cost > 0


def test_the_api_version_on_base_url_is_sent_and_anthropic_clients_translate(
    gateway: Gateway, admin: Admin, upstream_azure: FakeAzure
) -> None:
    r = route(admin, upstream_azure.endpoint + "/openai?api-version=2025-04-01-preview", API_KEY)
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.messages.create(
        model=r.model, max_tokens=50, messages=[{"role": "user", "content": "from claude code"}]
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Hello! You said: from claude code"
    with sdk.messages.stream(
        model=r.model, max_tokens=50, messages=[{"role": "user", "content": "streamed"}]
    ) as stream:
        assert "".join(stream.text_stream) == "Hello! You said: streamed"
    assert {s.path for s in upstream_azure.chat_requests} == {
        f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2025-04-01-preview"
    }


def test_entra_id_tokens_are_fetched_once_and_sent_as_bearer(
    gateway: Gateway, admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    key, secret = entra_key(entra)
    fetched = _requests_for(entra, key)
    r = route(admin, upstream_azure.endpoint, key)
    sdk = _openai(gateway, r.key)
    for prompt in ("one", "two"):
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == "Hello! You said: " + prompt
    sent = upstream_azure.chat_requests
    tokens = {s.headers["authorization"] for s in sent}
    assert len(tokens) == 1 and tokens.pop().startswith("Bearer eyJ0eXAiOiJKV1Qi.fake.")
    assert all("api-key" not in s.headers for s in sent)
    assert fetched() == 1
    assert upstream_azure.unauthenticated == 0
    shown = admin.http.get(f"/v1/admin/channels/{r.channel['id']}").text
    assert secret not in shown and key not in shown


def test_v1_api_serves_responses_and_embeddings(
    gateway: Gateway, admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    key, _ = entra_key(entra)
    r = route(admin, upstream_azure.v1_base_url, key, endpoints=["chat", "responses"])
    sdk = _openai(gateway, r.key)
    answer = sdk.responses.create(model=r.model, input="hello responses")
    assert "hello responses" in answer.output_text
    events = list(sdk.responses.create(model=r.model, input="streamed responses", stream=True))
    assert events[-1].type == "response.completed"
    reply = sdk.chat.completions.create(
        model=r.model, messages=[{"role": "user", "content": "chat on v1"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: chat on v1"
    paths = [s.path for s in upstream_azure.requests]
    assert paths == ["/openai/v1/responses"] * 2 + ["/openai/v1/chat/completions"]
    assert upstream_azure.requests[0].body["model"] == DEPLOYMENT
    e = route(
        admin,
        upstream_azure.endpoint,
        API_KEY,
        upstream_model="text-embedding-3-small",
        endpoints=["embeddings"],
    )
    vectors = _openai(gateway, e.key).embeddings.create(model=e.model, input=["a b", "c"])
    assert len(vectors.data) == 2
    assert upstream_azure.requests[-1].path == (
        "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
    )


def test_entra_tokens_are_refreshed_before_they_expire_without_waiting(
    gateway: Gateway, admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    now = [5_000_000.0]
    azure.TOKENS.clock = lambda: now[0]
    key, _ = entra_key(entra)
    fetched = _requests_for(entra, key)
    r = route(admin, upstream_azure.endpoint, key)
    sdk = _openai(gateway, r.key)
    waits = azure.TOKENS.waits

    def call(prompt: str) -> None:
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == "Hello! You said: " + prompt

    call("first")
    now[0] += 3600 * 0.81
    call("second")
    first = azure.TOKENS.current(key)
    deadline = time.monotonic() + 10
    while azure.TOKENS.current(key) == first and time.monotonic() < deadline:
        time.sleep(0.01)  # the refresh runs in the background
    call("third")
    tokens = [s.headers["authorization"] for s in upstream_azure.chat_requests]
    assert tokens[0] == tokens[1] != tokens[2]
    assert fetched() == 2
    assert azure.TOKENS.waits == waits + 1


def test_short_lived_entra_tokens_never_fail_a_call(
    gateway: Gateway, admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    entra.expires_in = 2
    key, _ = entra_key(entra)
    fetched = _requests_for(entra, key)
    r = route(admin, upstream_azure.endpoint, key)
    sdk = _openai(gateway, r.key)
    calls = 0
    while fetched() < 3 and calls < 200:
        chunks = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": f"n{calls}"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"Hello! You said: n{calls}"
        calls += 1
        time.sleep(0.05)
    assert fetched() >= 3
    assert upstream_azure.unauthenticated == 0


@pytest.mark.parametrize(
    ("status", "document", "shown"),
    [
        (503, {"error": "temporarily_unavailable", "error_description": "AADSTS50196"}, "503"),
        (401, {"error": "invalid_client", "error_description": "AADSTS7000215: {secret}"}, "401"),
    ],
)
def test_a_failing_token_endpoint_is_a_clear_502_without_the_secret(
    gateway: Gateway,
    admin: Admin,
    entra: FakeEntra,
    upstream_azure: FakeAzure,
    status: int,
    document: dict[str, str],
    shown: str,
) -> None:
    key, secret = entra_key(entra)
    r = route(admin, upstream_azure.endpoint, key)
    echoed = {k: v.replace("{secret}", secret) for k, v in document.items()}
    entra.fail_with(str(orjson.loads(key)["client_id"]), status, echoed)
    with pytest.raises(openai.APIStatusError) as failed:
        _openai(gateway, r.key).chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.status_code == 502
    message = failed.value.response.json()["error"]["message"]
    assert "no access token" in message and f"HTTP {shown}" in message
    assert echoed["error"] in message
    assert secret not in failed.value.response.text
    assert upstream_azure.requests == []


def test_the_channel_probe_fetches_a_token_or_says_why_it_could_not(
    admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    key, secret = entra_key(entra)
    r = route(admin, upstream_azure.endpoint, key)
    probe = admin.http.post(f"/v1/admin/channels/{r.channel['id']}/test")
    assert probe.status_code == 200 and probe.json()["success"] is True, probe.text
    assert upstream_azure.chat_requests[-1].headers["authorization"].startswith("Bearer ")
    other, other_secret = entra_key(entra)
    entra.fail_with(
        str(orjson.loads(other)["client_id"]),
        401,
        {"error": "invalid_client", "error_description": f"bad secret {other_secret}"},
    )
    failing = route(admin, upstream_azure.endpoint, other)
    probe = admin.http.post(f"/v1/admin/channels/{failing.channel['id']}/test")
    assert probe.status_code == 200, probe.text
    assert probe.json()["success"] is False
    assert "no access token" in probe.json()["message"]
    assert other_secret not in probe.text and secret not in probe.text


def test_a_wrong_client_secret_is_refused_by_entra_and_never_shown(
    gateway: Gateway, admin: Admin, entra: FakeEntra, upstream_azure: FakeAzure
) -> None:
    tenant, client, _ = entra.application()
    key = orjson.dumps(
        {
            "tenant_id": tenant,
            "client_id": client,
            "client_secret": "Q~wrong-secret-1234567890",
            "authority": entra.authority,
        }
    ).decode()
    r = route(admin, upstream_azure.endpoint, key)
    with pytest.raises(anthropic.APIStatusError) as failed:
        anthropic.Anthropic(
            base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30
        ).messages.create(model=r.model, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502
    assert "invalid_client" in failed.value.response.json()["error"]["message"]
    assert "Q~wrong-secret" not in failed.value.response.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_url": "https://r.openai.azure.com?api-version=latest-ish"}, "api-version"),
        ({"base_url": "https://r.openai.azure.com?deployment=x"}, "no query"),
        ({"endpoints": ["chat", "responses"]}, "/openai/v1"),
        ({"endpoints": ["images"]}, "cannot serve images"),
        ({"api_keys": ["tenant:client"]}, "TENANT_ID:CLIENT_ID:CLIENT_SECRET"),
        ({"api_keys": ['{"tenant_id": "t", "client_id": "c"}']}, "TENANT_ID"),
        ({"base_url": None}, "needs its own 'base_url'"),
    ],
)
def test_an_azure_channel_is_checked_when_created(
    admin: Admin, fields: dict[str, object], message: str
) -> None:
    body: dict[str, object] = {
        "name": "az",
        "type": "azure",
        "api_keys": [API_KEY],
        "base_url": "https://r.openai.azure.com",
    }
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    answer = admin.http.post("/v1/admin/channels", json=body)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]


def test_responses_cannot_be_patched_onto_a_deployments_channel(
    admin: Admin, upstream_azure: FakeAzure
) -> None:
    r = route(admin, upstream_azure.endpoint, API_KEY)
    answer = admin.http.patch(
        f"/v1/admin/channels/{r.channel['id']}", json={"endpoints": ["chat", "responses"]}
    )
    assert answer.status_code == 400 and "/openai/v1" in answer.text
    moved = admin.http.patch(
        f"/v1/admin/channels/{r.channel['id']}",
        json={"endpoints": ["chat", "responses"], "base_url": upstream_azure.v1_base_url},
    )
    assert moved.status_code == 200, moved.text
