"""Rate and concurrency limits through a running gateway (in-process counters), with the
official SDKs as clients: what each surface answers on 429, the ``x-ratelimit-*`` headers
on answers and refusals, slots in flight freed however a call ends, the free tier of a
user group, maintenance mode, and admin fields the gateway cannot honour refused."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from fakes.loopback import Behaviour
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

HI = [{"role": "user", "content": "hi"}]
LIMIT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


@pytest.fixture
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("limited")
    admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name]
    )
    return name


def upstream_has(upstream: FakeOpenAI, count: int, timeout: float = 10) -> None:
    """Wait until the upstream has received ``count`` chat calls (the slow ones in flight)."""
    deadline = time.monotonic() + timeout
    while len(upstream.chat_requests) < count:
        assert time.monotonic() < deadline, "the upstream never got the call"
        time.sleep(0.02)


def clear_of_minute_edge(margin: float = 8.0) -> None:
    """Counts within one minute's window: wait for a fresh minute when it is nearly over."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def chat(gateway: Gateway, key: str, model: str, **extra: Any) -> httpx.Response:
    body = json.dumps({"model": model, "messages": HI, **extra}).encode()
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=20,
    )


def test_rpm_headers_and_openai_rate_limit_error(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    clear_of_minute_edge()
    key = admin.create_token(rpm=3, tpm=100_000)["key"]
    client = sdk(gateway, key)
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model=model, messages=HI)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "Hello! You said: hi"
        for name in LIMIT_HEADERS:
            assert name in raw.headers, name
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    headers = caught.value.response.headers
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert "x-request-id" in headers
    body = caught.value.response.json()
    assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == 429


def test_anthropic_and_gemini_shapes(gateway: Gateway, admin: Admin, model: str) -> None:
    clear_of_minute_edge()
    key = admin.create_token(rpm=1)["key"]
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)
    raw = claude.messages.with_raw_response.create(model=model, max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=model, max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert caught.value.response.headers["Retry-After"]
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    answer = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:generateContent",
        params={"key": key},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        timeout=20,
    )
    assert answer.status_code == 429
    assert answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert answer.headers["Retry-After"] and answer.headers["x-ratelimit-limit-requests"] == "1"


def test_tokens_reserved_then_billed_usage(gateway: Gateway, admin: Admin, model: str) -> None:
    clear_of_minute_edge()
    key = admin.create_token(tpm=1000)["key"]
    first = chat(gateway, key, model)
    assert first.status_code == 200, first.text
    reserved = len(first.request.content) // 4
    assert first.headers["x-ratelimit-remaining-tokens"] == str(1000 - reserved)
    used = first.json()["usage"]["total_tokens"]
    second = chat(gateway, key, model)
    # The first call's real usage replaced its estimate before the second one counted.
    expected = 1000 - used - len(second.request.content) // 4
    assert second.headers["x-ratelimit-remaining-tokens"] == str(expected)


def test_calls_in_flight_freed_on_every_end(
    gateway: Gateway, admin: Admin, model: str, upstream: FakeOpenAI
) -> None:
    key = admin.create_token(max_concurrency=1)["key"]
    upstream.script(Behaviour.slow(1.0))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(chat, gateway, key, model)
        upstream_has(upstream, 1)  # the slow call holds the key's one slot
        busy = chat(gateway, key, model)
        assert busy.status_code == 429, busy.text
        assert busy.headers["Retry-After"] == "1"
        assert "concurrent" in busy.json()["error"]["message"]
        assert slow.result().status_code == 200
    # A whole answer, a stream read to its end, an upstream error: each frees the slot.
    assert chat(gateway, key, model).status_code == 200
    streamed = chat(gateway, key, model, stream=True)
    assert streamed.status_code == 200 and streamed.text.rstrip().endswith("[DONE]")
    assert "x-ratelimit-reset-requests" not in streamed.headers  # no per-minute limit set
    upstream.script(Behaviour.error(500))
    assert chat(gateway, key, model).status_code == 502
    assert chat(gateway, key, model).status_code == 200


def test_slot_freed_when_a_stream_client_leaves(
    gateway: Gateway, admin: Admin, model: str, upstream: FakeOpenAI
) -> None:
    key = admin.create_token(max_concurrency=1)["key"]
    upstream.script(Behaviour.slow_stream(1.5))  # about 10 s to the stream's end
    body = {"model": model, "messages": HI, "stream": True}
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # the first event, then the client goes away
    # The gateway sees the client gone when a write fails, and closes the upstream call...
    assert upstream.wait_for_disconnects(1, timeout=20)
    # ... and the key's slot is free from then on, long before the stream would have ended.
    deadline = time.monotonic() + 3
    while True:
        answer = chat(gateway, key, model)
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        assert answer.status_code == 429
        time.sleep(0.1)
    assert answer.status_code == 200


@pytest.fixture
def settings_restored(admin: Admin) -> Iterator[None]:
    before = admin.http.get("/v1/admin/settings").json()
    yield
    restore = {k: before[k] for k in ("features", "rate_limits")}
    assert admin.http.patch("/v1/admin/settings", json=restore).status_code == 200


def test_free_tier_group(
    gateway: Gateway, admin: Admin, model: str, settings_restored: None
) -> None:
    clear_of_minute_edge()
    patch = {"rate_limits": {"groups": {"free": {"requests_per_minute": 2}}}}
    assert admin.http.patch("/v1/admin/settings", json=patch).status_code == 200
    user = admin.create_user(group="free")
    keys = [admin.create_token(user["id"])["key"] for _ in range(2)]
    assert chat(gateway, keys[0], model).status_code == 200
    assert chat(gateway, keys[1], model).status_code == 200
    refused = chat(gateway, keys[0], model)
    assert refused.status_code == 429 and "user group" in refused.json()["error"]["message"]
    # Users of other groups are not held by it.
    other = admin.create_token()["key"]
    assert [chat(gateway, other, model).status_code for _ in range(3)] == [200] * 3


def test_maintenance_mode(
    gateway: Gateway, admin: Admin, model: str, settings_restored: None
) -> None:
    key = admin.create_token()["key"]
    on = admin.http.patch("/v1/admin/settings", json={"features": {"maintenance_mode": True}})
    assert on.status_code == 200
    refused = chat(gateway, key, model)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "maintenance" in refused.json()["error"]["message"]
    models = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 503
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as caught:
        claude.messages.create(model=model, max_tokens=5, messages=HI)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    # The management API keeps working, and turns it off again.
    assert admin.http.get("/v1/admin/users").status_code == 200
    off = admin.http.patch("/v1/admin/settings", json={"features": {"maintenance_mode": False}})
    assert off.status_code == 200
    assert chat(gateway, key, model).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/admin/tokens", {"colour": "blue"}),
        ("POST", "/v1/admin/tokens", {"max_concurrency": -1}),
        ("PATCH", "/v1/admin/tokens/{token}", {"budget": 5}),
        ("PATCH", "/v1/admin/tokens/{token}", {"max_concurrency": "two"}),
        ("POST", "/v1/admin/channels", {"name": "x", "rpm": 0}),
        ("POST", "/v1/admin/channels", {"name": "x", "health_check": True}),
        ("PATCH", "/v1/admin/channels/{channel}", {"tpm": -5}),
        ("PATCH", "/v1/admin/channels/{channel}", {"max_concurency": 2}),
        ("POST", "/v1/admin/users", {"email": "a@b.c", "credit_limit": 5}),
        ("PATCH", "/v1/admin/settings", {"rate_limits": {"groups": {"free": {"rph": 1}}}}),
    ],
    ids=repr,
)
def test_fields_the_gateway_cannot_honour_are_400(
    admin: Admin, method: str, path: str, body: dict[str, Any]
) -> None:
    user = admin.create_user()
    token = admin.create_token(user["id"])
    channel = admin.create_channel(type="openai", base_url="http://127.0.0.1:9", models=["x"])
    url = path.format(token=token["id"], channel=channel["id"])
    before = admin.http.get(url).json() if method == "PATCH" else None
    answer = admin.http.request(
        method,
        url,
        json={"user_id": user["id"], **body} if "tokens" in url and method == "POST" else body,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"
    if before is not None:
        assert admin.http.get(url).json() == before


def test_limits_are_shown_back(admin: Admin) -> None:
    token = admin.create_token(rpm=5, tpm=500, max_concurrency=2)
    assert (token["rpm"], token["tpm"], token["max_concurrency"]) == (5, 500, 2)
    patched = admin.http.patch(f"/v1/admin/tokens/{token['id']}", json={"max_concurrency": None})
    assert patched.json()["max_concurrency"] is None
    channel = admin.create_channel(
        type="openai", base_url="http://127.0.0.1:9", models=["y"], rpm=60, tpm=1000
    )
    assert (channel["rpm"], channel["tpm"], channel["max_concurrency"]) == (60, 1000, None)


def test_channel_at_its_limit_is_skipped(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    clear_of_minute_edge()
    name = unique_model("spread")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[name],
        priority=1,
        rpm=2,
    )
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-second"],
        models=[name],
        priority=2,
    )
    key = admin.create_token()["key"]
    used = []
    for _ in range(4):
        assert chat(gateway, key, name).status_code == 200
        used.append(upstream.chat_requests[-1].api_key)
    # The first choice takes its 2 per minute, then the load goes to the second.
    assert used == ["sk-upstream-test"] * 2 + ["sk-upstream-second"] * 2
    # With the second channel gone, the call has nowhere to go: 429 with Retry-After.
    only = unique_model("alone")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[only],
        rpm=1,
    )
    assert chat(gateway, key, only).status_code == 200
    refused = chat(gateway, key, only)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def test_channel_concurrency_spreads_the_load(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    name = unique_model("busy")
    for priority, upstream_key in ((1, "sk-upstream-test"), (2, "sk-upstream-second")):
        admin.create_channel(
            type="openai",
            base_url=upstream.base_url,
            api_keys=[upstream_key],
            models=[name],
            priority=priority,
            max_concurrency=1,
        )
    key = admin.create_token()["key"]
    upstream.script(Behaviour.slow(1.0), Behaviour.slow(1.0))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(chat, gateway, key, name)]
        upstream_has(upstream, 1)
        calls.append(pool.submit(chat, gateway, key, name))
        upstream_has(upstream, 2)
        third = chat(gateway, key, name)  # both channels are busy
        assert third.status_code == 429
        assert [call.result().status_code for call in calls] == [200, 200]
    keys = {request.api_key for request in upstream.chat_requests[-2:]}
    assert keys == {"sk-upstream-test", "sk-upstream-second"}
    assert chat(gateway, key, name).status_code == 200  # both slots were given back


def test_refusals_after_the_limit_stage_carry_the_headers(
    gateway: Gateway, admin: Admin, model: str, upstream: FakeOpenAI
) -> None:
    clear_of_minute_edge()
    key = admin.create_token(rpm=10)["key"]
    upstream.script(Behaviour.error(500))
    failed = chat(gateway, key, model)
    assert failed.status_code == 502
    assert failed.headers["x-ratelimit-remaining-requests"] == "9"
    broke = admin.create_token(admin.create_user(balance=0)["id"], rpm=10)["key"]
    unpaid = chat(gateway, broke, model)
    assert unpaid.status_code == 402
    assert unpaid.headers["x-ratelimit-limit-requests"] == "10"
    assert chat(gateway, key, model).headers["x-ratelimit-remaining-requests"] == "8"
