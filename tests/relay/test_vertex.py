"""Calls through ``vertex`` (Gemini) and ``vertex_anthropic`` (Claude) channels: the OpenAI and
Anthropic SDKs as clients, a fake Vertex AI behind the gateway that takes only the Bearer
tokens a fake Google OAuth server issued for the channel's service account (its ``token_uri``
points there), whole and streamed; the token fetched once and refreshed before it expires
without a call waiting; a token endpoint that refuses the key answered as a clear 502."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anthropic
import httpx
import openai
import pytest
from fakes.token_servers import FakeGoogleOAuth, ServiceAccount
from fakes.vertex_upstream import FakeVertex
from google import genai
from google.genai import types
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import wait_for_rows

from airelay.providers import vertex

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5@20250929"
PRICE = {"input": 3, "output": 15}
NOT_PEM = '{"type": "service_account", "client_email": "a@b", "private_key": "x"}'


@pytest.fixture(scope="module")
def oauth() -> Iterator[FakeGoogleOAuth]:
    with FakeGoogleOAuth() as server:
        yield server


@pytest.fixture(scope="module")
def upstream_vertex(oauth: FakeGoogleOAuth) -> Iterator[FakeVertex]:
    with FakeVertex(oauth) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(upstream_vertex: FakeVertex, oauth: FakeGoogleOAuth) -> Iterator[None]:
    upstream_vertex.reset()
    oauth.expires_in = 3600
    yield
    vertex.TOKENS.clock = time.monotonic


@dataclass
class Route:
    model: str
    key: str
    user_id: str
    channel: dict[str, object]
    account: ServiceAccount


def route(
    admin: Admin,
    oauth: FakeGoogleOAuth,
    fake: FakeVertex,
    channel_type: str = "vertex",
    upstream_model: str = GEMINI,
) -> Route:
    account = oauth.service_account()
    model = unique_model(channel_type)
    channel = admin.create_channel(
        type=channel_type,
        base_url=fake.base_url,
        api_keys=[account.key_json],
        models=[],
        model_mapping={model: upstream_model},
        price=PRICE,
    )
    user = admin.create_user(balance=1)
    return Route(model, admin.create_token(user["id"])["key"], user["id"], channel, account)


def _openai(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _anthropic(gateway: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)


def _requests_for(oauth: FakeGoogleOAuth, r: Route) -> Callable[[], int]:
    return lambda: oauth.requests_of(r.account.email)


def test_openai_sdk_reaches_gemini_on_vertex_with_one_token(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex)
    fetched = _requests_for(oauth, r)
    sdk = _openai(gateway, r.key)
    for prompt in ("hello there", "hello again"):
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == "Hello! You said: " + prompt
        assert reply.model == r.model
    sent = upstream_vertex.requests
    assert [s.path for s in sent] == [
        "/v1/projects/fake-project/locations/us-central1/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    ] * 2
    tokens = {s.headers["authorization"] for s in sent}
    assert len(tokens) == 1 and tokens.pop().startswith("Bearer ya29.fake.")
    assert fetched() == 1  # cached for the second call
    assert upstream_vertex.unauthenticated == 0
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 2)
    assert books.usage_rows == 2 and books.usage_cost > 0


def test_openai_sdk_streams_from_gemini_on_vertex(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex)
    chunks = _openai(gateway, r.key).chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": "stream it please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(chunks)
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == "Hello! You said: stream it please"
    assert [c.usage is not None for c in pieces].count(True) == 1
    sent = upstream_vertex.requests[-1]
    assert sent.path.endswith("/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert sent.headers["authorization"].startswith("Bearer ya29.fake.")


def test_google_genai_sdk_passes_through_to_gemini_on_vertex(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    """A Gemini client's body goes to Vertex as it came (the same wire format), whole and
    streamed, with the service account's token instead of the client's key."""
    r = route(admin, oauth, upstream_vertex)
    sdk = genai.Client(
        api_key=r.key, http_options=types.HttpOptions(base_url=gateway.url, timeout=30_000)
    )
    whole = sdk.models.generate_content(model=r.model, contents="hello gemini")
    assert whole.text == "Hello! You said: hello gemini"
    chunks = list(sdk.models.generate_content_stream(model=r.model, contents="streamed gemini"))
    assert "".join(c.text or "" for c in chunks) == "Hello! You said: streamed gemini"
    sent = upstream_vertex.requests
    assert [s.path.rsplit(":", 1)[1] for s in sent] == [
        "generateContent",
        "streamGenerateContent?alt=sse",
    ]
    assert all("x-goog-api-key" not in s.headers for s in sent)
    assert all(r.key not in s.headers.get("authorization", "") for s in sent)
    assert sent[0].body["contents"][0]["parts"][0]["text"] == "hello gemini"


def test_anthropic_sdk_reaches_claude_on_vertex(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex, "vertex_anthropic", CLAUDE)
    reply = _anthropic(gateway, r.key).messages.create(
        model=r.model,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Hello! You said: hello from anthropic"
    assert reply.model == r.model
    sent = upstream_vertex.requests[-1]
    assert sent.path == (
        "/v1/projects/fake-project/locations/us-central1/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:rawPredict"
    )
    assert sent.body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent.body and sent.body["system"] == "be brief"
    assert "x-api-key" not in sent.headers and "anthropic-version" not in sent.headers
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    usage = reply.usage
    assert books.usage_cost == (usage.input_tokens * 3 + usage.output_tokens * 15) * 10_000


def test_claude_on_vertex_streams_to_both_sdks(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex, "vertex_anthropic", CLAUDE)
    with _anthropic(gateway, r.key).messages.stream(
        model=r.model, max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: stream it"
    assert final.model == r.model
    sent = upstream_vertex.requests[-1]
    assert sent.path.endswith("/claude-sonnet-4-5@20250929:streamRawPredict")
    assert sent.body["stream"] is True and "model" not in sent.body
    chunks = _openai(gateway, r.key).chat.completions.create(
        model=r.model, messages=[{"role": "user", "content": "and translated"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! You said: and translated"


def test_a_token_is_refreshed_before_it_expires_and_no_call_waits(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    """The token cache on a clock the test moves: past 80 % of the token's life a call still
    goes with the current token and starts the refresh; the next goes with the new one. Only
    the very first call waited for a token."""
    now = [1_000_000.0]
    vertex.TOKENS.clock = lambda: now[0]
    r = route(admin, oauth, upstream_vertex)
    fetched = _requests_for(oauth, r)
    sdk = _openai(gateway, r.key)
    waits = vertex.TOKENS.waits

    def call(prompt: str) -> None:
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == "Hello! You said: " + prompt

    call("first")
    assert fetched() == 1
    now[0] += 3600 * 0.85  # past the refresh point, before the token runs out
    call("second")
    first = vertex.TOKENS.current(r.account.key_json)
    deadline = time.monotonic() + 10
    while vertex.TOKENS.current(r.account.key_json) == first and time.monotonic() < deadline:
        time.sleep(0.01)  # the refresh runs in the background
    assert fetched() == 2
    call("third")
    tokens = [s.headers["authorization"] for s in upstream_vertex.requests]
    assert tokens[0] == tokens[1] != tokens[2]
    assert vertex.TOKENS.waits == waits + 1  # the first call only
    assert upstream_vertex.unauthenticated == 0


def test_short_lived_tokens_are_refreshed_and_no_call_fails(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    """Real time: tokens that live 3 s; calls keep coming until the token server was asked
    again (twice), and every call succeeded with a token the upstream took."""
    oauth.expires_in = 3
    r = route(admin, oauth, upstream_vertex)
    fetched = _requests_for(oauth, r)
    sdk = _openai(gateway, r.key)
    calls = 0
    while fetched() < 3 and calls < 200:
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": f"call {calls}"}]
        )
        assert reply.choices[0].message.content == f"Hello! You said: call {calls}"
        calls += 1
        time.sleep(0.05)
    assert fetched() >= 3
    assert upstream_vertex.unauthenticated == 0
    assert len({s.headers["authorization"] for s in upstream_vertex.requests}) >= 2


def test_a_refused_key_is_a_clear_502_without_the_secret(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex)
    oauth.fail_with(
        r.account.email,
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    with pytest.raises(openai.APIStatusError) as failed:
        _openai(gateway, r.key).chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.status_code == 502
    body = failed.value.response.json()
    message = body["error"]["message"]
    assert "access token" in message and "invalid_grant" in message
    assert "PRIVATE KEY" not in failed.value.response.text
    assert r.account.private_key_id not in failed.value.response.text
    assert upstream_vertex.requests == []  # nothing went upstream without a token
    # The next call asks again, gets a token, and goes through.
    reply = _anthropic(gateway, r.key).messages.create(
        model=r.model, max_tokens=50, messages=[{"role": "user", "content": "again"}]
    )
    assert reply.content[0].type == "text"


def test_a_failing_token_endpoint_answers_an_anthropic_client_in_its_format(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex, "vertex_anthropic", CLAUDE)
    oauth.fail_with(
        r.account.email, 400, {"error": "invalid_grant", "error_description": "account disabled"}
    )
    with pytest.raises(anthropic.APIStatusError) as failed:
        _anthropic(gateway, r.key).messages.create(
            model=r.model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.status_code == 502
    assert failed.value.response.json()["type"] == "error"
    assert "access token" in failed.value.response.json()["error"]["message"]


def test_the_admin_api_never_shows_the_service_account_key(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex)
    for text in (
        admin.http.get(f"/v1/admin/channels/{r.channel['id']}").text,
        admin.http.get("/v1/admin/channels").text,
    ):
        assert "PRIVATE KEY" not in text and r.account.private_key_id not in text
        assert r.account.email not in text
    probe = admin.http.post(f"/v1/admin/channels/{r.channel['id']}/test")
    assert probe.status_code == 200 and probe.json()["success"] is True, probe.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_url": "https://us-central1-aiplatform.googleapis.com/v1"}, "projects/PROJECT"),
        ({}, "needs its own 'base_url'"),
        ({"api_keys": ["AIza-not-a-service-account"]}, "service account"),
        ({"api_keys": ['{"type": "authorized_user"}']}, "service_account"),
        ({"api_keys": [NOT_PEM]}, "PEM"),
    ],
)
def test_a_vertex_channel_is_checked_when_created(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, fields: dict[str, object], message: str
) -> None:
    body: dict[str, object] = {
        "name": "v",
        "type": "vertex",
        "api_keys": [oauth.service_account().key_json],
        "base_url": "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4",
    }
    body.update(fields)
    if not fields.get("base_url") and "api_keys" not in fields:
        body.pop("base_url")
    answer = httpx.post(
        gateway.url + "/v1/admin/channels",
        json=body,
        headers={"Authorization": f"Bearer {gateway.admin_key}"},
    )
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]
    assert "PRIVATE KEY" not in answer.text


def test_a_patch_to_a_bad_base_url_is_refused(
    gateway: Gateway, admin: Admin, oauth: FakeGoogleOAuth, upstream_vertex: FakeVertex
) -> None:
    r = route(admin, oauth, upstream_vertex)
    answer = admin.http.patch(
        f"/v1/admin/channels/{r.channel['id']}", json={"base_url": "https://example.com/v1"}
    )
    assert answer.status_code == 400 and "projects/PROJECT" in answer.text
