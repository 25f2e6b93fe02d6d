"""Failover: a failed attempt moves to the next channel before any byte reached the client;
a stream that fails midway is not retried and ends with a clean error event."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def second() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=("sk-second-upstream",), name="second") as fake:
        yield fake


@pytest.fixture
def pair(admin: Admin, upstream: FakeOpenAI, second: FakeOpenAI) -> tuple[str, str]:
    """A model on two channels: ``upstream`` first (priority 1), ``second`` after it."""
    second.reset()
    model = unique_model("fo")
    admin.create_channel(
        name="first",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        priority=1,
        timeout=1.0,
    )
    admin.create_channel(
        name="second",
        base_url=second.base_url,
        api_keys=["sk-second-upstream"],
        models=[model],
        priority=2,
        timeout=1.0,
    )
    return model, str(admin.create_token()["key"])


def conversation(number: int) -> list[dict[str, str]]:
    """The first turn of a conversation of its own."""
    return [{"role": "user", "content": f"hi {number}"}]


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def test_priority_one_is_tried_first(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    model, key = pair
    for _ in range(5):
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert len(upstream.chat_requests) == 5 and not second.chat_requests


@pytest.mark.parametrize(
    "failure",
    [
        Behaviour.error(500, "boom"),
        Behaviour.error(503, "overloaded"),
        Behaviour.error(429, "slow down"),
        Behaviour.error(401, "bad key"),
        Behaviour.slow(3.0),
        Behaviour.close_immediately(),
        Behaviour.drop_after(0),
    ],
    ids=["500", "503", "429", "401", "timeout", "closed", "dropped-body"],
)
def test_failed_first_channel_falls_over_to_second(
    gateway: Gateway,
    pair: tuple[str, str],
    upstream: FakeOpenAI,
    second: FakeOpenAI,
    failure: Behaviour,
) -> None:
    model, key = pair
    upstream.script(failure)
    reply = sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello! You said: hi"
    assert len(upstream.chat_requests) == 1 and len(second.chat_requests) == 1
    assert second.chat_requests[0].headers["authorization"] == "Bearer sk-second-upstream"


def test_stream_falls_over_before_first_byte(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    model, key = pair
    upstream.script(Behaviour.error(502, "bad gateway"))
    chunks = list(
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Hello! You said: hi"
    )
    assert len(second.chat_requests) == 1


def test_request_errors_are_not_retried(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    model, key = pair
    upstream.script(Behaviour.error(400, "context too long"))
    with pytest.raises(openai.BadRequestError):
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert not second.chat_requests


def test_mid_stream_failure_is_not_retried(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    model, key = pair
    upstream.script(Behaviour.drop_after(3))
    stream = sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received, "the chunks sent before the failure reach the client"
    assert "upstream" in caught.value.message
    assert not second.chat_requests


def test_mid_stream_failure_ends_with_error_event(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI
) -> None:
    model, key = pair
    upstream.script(Behaviour.drop_after(2))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": model, "messages": MESSAGES, "stream": True},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        events = [line for line in response.iter_lines() if line]
    assert response.status_code == 200
    assert events[-1].startswith('data: {"error":')
    assert "[DONE]" not in "".join(events)
    assert "127.0.0.1" not in events[-1] and "sk-upstream" not in events[-1]


def test_all_channels_failing_is_502(
    gateway: Gateway, pair: tuple[str, str], upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    model, key = pair
    upstream.script(Behaviour.error(500, "a"))
    second.script(Behaviour.error(500, "b"))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.status_code == 502


def test_unreachable_channel_falls_over(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    model = unique_model("dead")
    admin.create_channel(
        base_url=f"http://127.0.0.1:{dead_port}/v1",
        api_keys=["k-dead-000000"],
        models=[model],
        priority=1,
    )
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], priority=5
    )
    reply = sdk(gateway, admin.create_token()["key"]).chat.completions.create(
        model=model, messages=MESSAGES
    )  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello! You said: hi"


def test_channel_the_client_cannot_address_falls_over(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("noaddr")
    admin.create_channel(base_url="http://", api_keys=["k-0"], models=[model], priority=1)
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], priority=5
    )
    reply = sdk(gateway, admin.create_token()["key"]).chat.completions.create(
        model=model, messages=MESSAGES
    )  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello! You said: hi"


def test_keys_with_line_breaks_are_refused(admin: Admin) -> None:
    response = admin.http.post(
        "/v1/admin/channels",
        json={
            "name": "crlf",
            "base_url": "http://127.0.0.1:9/v1",
            "api_keys": ["sk-a\r\nX-Injected: 1"],
            "models": ["m"],
        },
    )
    assert response.status_code == 400
    assert "line breaks" in response.json()["error"]["message"]


def test_upstream_keys_rotate(gateway: Gateway, admin: Admin, upstream: FakeOpenAI) -> None:
    model = unique_model("rot")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test", "sk-upstream-second"],
        models=[model],
    )
    client = sdk(gateway, admin.create_token()["key"])
    for turn in range(4):  # four conversations (one conversation keeps its key: affinity)
        client.chat.completions.create(model=model, messages=conversation(turn))  # type: ignore[arg-type]
    used = [r.headers["authorization"] for r in upstream.chat_requests]
    assert used.count("Bearer sk-upstream-test") == 2
    assert used.count("Bearer sk-upstream-second") == 2


def test_weights_share_traffic_within_a_priority(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    second.reset()
    model = unique_model("w")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], weight=3
    )
    admin.create_channel(
        base_url=second.base_url, api_keys=["sk-second-upstream"], models=[model], weight=1
    )
    client = sdk(gateway, admin.create_token()["key"])
    for turn in range(80):  # 80 conversations (one conversation keeps its channel: affinity)
        client.chat.completions.create(model=model, messages=conversation(turn))  # type: ignore[arg-type]
    first_share = len(upstream.chat_requests) / 80
    # 3:1 weights: expect 0.75; 80 draws put it within 0.55..0.92 with overwhelming odds.
    assert 0.55 < first_share < 0.92, first_share


def test_client_disconnect_cancels_upstream_stream(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("dc")
    admin.create_channel(base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model])
    key = admin.create_token()["key"]
    upstream.script(Behaviour.slow_stream(0.2))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": "a b c d e f g h"}],
        },
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break
    started = time.monotonic()
    assert upstream.wait_for_disconnects(1, timeout=5.0)
    assert time.monotonic() - started < 5.0


def test_client_disconnect_keeps_reading_non_stream_call(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    """The provider bills a call it got even if the client left: the gateway reads the
    answer to the end (to bill what it reports) rather than hang up on the upstream."""
    model = unique_model("dcn")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], timeout=30
    )
    key = admin.create_token()["key"]
    upstream.script(Behaviour.slow(1.5))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": model, "messages": MESSAGES},
            headers={"Authorization": f"Bearer {key}"},
            timeout=0.5,
        )
    assert not upstream.wait_for_disconnects(1, timeout=2.5)
    assert len(upstream.chat_requests) == 1
