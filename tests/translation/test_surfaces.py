"""The Anthropic and Gemini faces beyond chat: errors in each format's own shape (so each
SDK raises its typed exception), token counting, model lists, and images by URL."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest
from fakes.gemini_upstream import FakeGemini
from fakes.openai_upstream import Behaviour, FakeOpenAI
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from support.admin import Admin, unique_model
from support.gateway import Gateway


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("surf")
    admin.create_channel(base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name])
    return name


@pytest.fixture(scope="module")
def key(admin: Admin) -> str:
    return str(admin.create_token()["key"])


def claude(gateway: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def google(gateway: Gateway, key: str, version: str = "v1beta") -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url, api_version=version)
    return genai.Client(api_key=key, http_options=options)


def test_anthropic_errors_are_typed(gateway: Gateway, admin: Admin, model: str, key: str) -> None:
    message = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        claude(gateway, "sk-nope").messages.create(model=model, max_tokens=10, messages=message)  # type: ignore[arg-type]
    assert bad_key.value.body["type"] == "error"  # type: ignore[index]
    assert bad_key.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        claude(gateway, key).messages.create(model="no-such", max_tokens=10, messages=message)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError):
        claude(gateway, key).messages.create(model=model, max_tokens=10, messages=[])
    broke = admin.create_token(admin.create_user(balance=0)["id"])["key"]
    with pytest.raises(anthropic.APIStatusError) as no_money:
        claude(gateway, broke).messages.create(model=model, max_tokens=10, messages=message)  # type: ignore[arg-type]
    assert no_money.value.status_code == 402
    limited = admin.create_token(models=["other"])["key"]
    with pytest.raises(anthropic.PermissionDeniedError):
        claude(gateway, limited).messages.create(model=model, max_tokens=10, messages=message)  # type: ignore[arg-type]


def test_anthropic_upstream_failure_is_typed(
    gateway: Gateway, upstream: FakeOpenAI, model: str, key: str
) -> None:
    upstream.script(Behaviour.error(500, "boom"))
    with pytest.raises(anthropic.InternalServerError) as failed:
        claude(gateway, key).messages.create(
            model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.status_code == 502
    assert "sk-upstream-test" not in failed.value.response.text


def test_gemini_errors_are_typed(gateway: Gateway, model: str, key: str) -> None:
    stranger, client = google(gateway, "sk-nope"), google(gateway, key)
    with pytest.raises(genai_errors.ClientError) as bad_key:
        stranger.models.generate_content(model=model, contents="hi")
    assert bad_key.value.code == 401 and bad_key.value.status == "UNAUTHENTICATED"
    with pytest.raises(genai_errors.ClientError) as missing:
        client.models.generate_content(model="no-such", contents="hi")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    raw = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:generateContent",
        headers={"x-goog-api-key": key},
        content=b"{broken",
    )
    assert raw.status_code == 400 and raw.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_default_api_version_and_query_key(gateway: Gateway, model: str, key: str) -> None:
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url))
    assert client.models.generate_content(model=model, contents="hi").text == "Hello! You said: hi"
    raw = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:generateContent?key={key}",
        json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]},
    )
    assert raw.status_code == 200 and raw.json()["candidates"][0]["finishReason"] == "STOP"


def test_gemini_json_array_stream(gateway: Gateway, model: str, key: str) -> None:
    raw = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:streamGenerateContent",
        headers={"x-goog-api-key": key},
        json={"contents": [{"role": "user", "parts": [{"text": "a b"}]}]},
    )
    assert raw.status_code == 200
    chunks = raw.json()
    assert isinstance(chunks, list) and len(chunks) > 1
    text = "".join(
        p.get("text", "")
        for c in chunks
        for p in c["candidates"][0].get("content", {}).get("parts", [])
    )
    assert text == "Hello! You said: a b"


def test_count_tokens(gateway: Gateway, model: str, key: str) -> None:
    counted = claude(gateway, key).messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "hello world, count me"}]
    )
    assert 5 <= counted.input_tokens <= 20
    longer = claude(gateway, key).messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "hello world, count me " * 10}]
    )
    assert longer.input_tokens > counted.input_tokens
    client = google(gateway, key)
    tokens = client.models.count_tokens(model=model, contents="hello world, count me")
    assert tokens.total_tokens is not None and 5 <= tokens.total_tokens <= 20


def test_model_lists_in_each_shape(gateway: Gateway, model: str, key: str) -> None:
    ids = [m.id for m in claude(gateway, key).models.list()]
    assert model in ids
    client = google(gateway, key)
    names = [m.name for m in client.models.list()]
    assert f"models/{model}" in names
    one = client.models.get(model=model)
    assert one.name == f"models/{model}"


def test_gemini_channel_refuses_private_image_urls(
    gateway: Gateway, admin: Admin, gemini_fake: FakeGemini
) -> None:
    name = unique_model("gimg")
    admin.create_channel(
        type="gemini", base_url=gemini_fake.base_url, api_keys=["AIza-upstream-test"], models=[name]
    )
    key = admin.create_token()["key"]
    for url in ("http://127.0.0.1:9/cat.png", "http://10.1.2.3/cat.png", "http://localhost/x.png"):
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": name,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is it"},
                            {"type": "image_url", "image_url": {"url": url}},
                        ],
                    }
                ],
            },
        )
        assert response.status_code == 400, response.text
        assert "image URL" in response.json()["error"]["message"]
    assert not gemini_fake.generate_requests
