"""Every refusal and failure arrives in the contract's error shape, with the status code that
makes the OpenAI SDK raise its matching exception class."""

from __future__ import annotations

import httpx
import openai
import pytest
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("err")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name], timeout=1.0
    )
    return name


@pytest.fixture
def key(admin: Admin) -> str:
    return str(admin.create_token()["key"])


def assert_shape(error: openai.APIStatusError, status: int) -> None:
    assert error.status_code == status
    body = error.response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "code"} <= set(body["error"])
    assert body["error"]["message"]
    assert error.response.headers["x-request-id"]


def test_unknown_key_is_401(gateway: Gateway, model: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(gateway, "sk-not-a-key").chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 401)


def test_missing_key_is_401(gateway: Gateway, model: str) -> None:
    response = httpx.post(gateway.url + "/v1/chat/completions", json={"model": model})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_unknown_model_is_404(gateway: Gateway, key: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(gateway, key).chat.completions.create(model="no-such-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 404)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"messages": [{"role": "user", "content": "x"}]}',
        b'{"model": "m"}',
        b'{"model": "m", "messages": []}',
        b'{"model": "m", "messages": ["hi"]}',
        b'{"model": "m", "messages": [{"role": "user"}], "stream": "yes"}',
    ],
)
def test_bad_body_is_400_never_422(gateway: Gateway, key: str, body: bytes) -> None:
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_sdk_raises_bad_request(gateway: Gateway, key: str, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=[])
    assert_shape(caught.value, 400)


def test_key_limited_to_other_models_is_403(gateway: Gateway, admin: Admin, model: str) -> None:
    limited = admin.create_token(models=["something-else"])["key"]
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(gateway, limited).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 403)
    assert model in caught.value.message


def test_key_without_chat_permission_is_403(gateway: Gateway, admin: Admin, model: str) -> None:
    embeddings_only = admin.create_token(permissions=["embeddings"])["key"]
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(gateway, embeddings_only).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert "chat" in caught.value.message


def test_disabled_channel_is_503(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, key: str
) -> None:
    name = unique_model("off")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name], status="disabled"
    )
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, key).chat.completions.create(model=name, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 503)


def test_upstream_500_is_502(gateway: Gateway, upstream: FakeOpenAI, key: str, model: str) -> None:
    upstream.script(Behaviour.error(500, "boom"))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 502)


def test_upstream_timeout_is_504(
    gateway: Gateway, upstream: FakeOpenAI, key: str, model: str
) -> None:
    upstream.script(Behaviour.slow(3.0))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 504)


def test_upstream_429_is_429_with_retry_after(
    gateway: Gateway, upstream: FakeOpenAI, key: str, model: str
) -> None:
    upstream.script(Behaviour.error(429, "slow down", retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert_shape(caught.value, 429)
    assert caught.value.response.headers["retry-after"] == "7"


def test_upstream_errors_are_scrubbed(
    gateway: Gateway, upstream: FakeOpenAI, key: str, model: str
) -> None:
    for behaviour, exception in (
        (Behaviour.error(400, "bad thing"), openai.BadRequestError),
        (Behaviour.error(503, "down"), openai.InternalServerError),
    ):
        upstream.script(behaviour)
        with pytest.raises(exception) as caught:
            sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
        text = caught.value.response.text
        assert "sk-upstream-test" not in text
        assert upstream.base_url not in text and "127.0.0.1" not in text
        assert "bad thing" in text or "down" in text


def test_unknown_route_is_404_json(gateway: Gateway) -> None:
    response = httpx.get(gateway.url + "/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404
    assert response.headers["x-request-id"]


def test_body_too_large_is_413(gateway: Gateway, key: str) -> None:
    big = (
        b'{"model": "m", "messages": [{"role": "user", "content": "'
        + b"x" * (33 * 1024 * 1024)
        + b'"}]}'
    )
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=big,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == 413
