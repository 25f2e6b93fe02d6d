"""Self-test of the fake Anthropic upstream, driven by the official SDK and raw httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2  # the transport of the Anthropic SDK 2.x
import pytest
from anthropic import Anthropic

from .anthropic_upstream import REASONING_TEXT, SIGNATURE, TOOL_INPUT, Behaviour, FakeAnthropic

KEY = "sk-ant-upstream-test"
TOOLS: list[Any] = [
    {"name": n, "description": f"{n} tool", "input_schema": {"type": "object"}}
    for n in ("get_weather", "get_time", "get_news")
]
HI: list[Any] = [{"role": "user", "content": "hi there"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_keys=(KEY, "sk-ant-second")) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropic) -> FakeAnthropic:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[Anthropic]:
    with Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=0, timeout=5) as c:
        yield c


def raw_headers(**extra: str) -> dict[str, str]:
    return {"x-api-key": KEY, "anthropic-version": "2023-06-01", **extra}


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event, checking the framing."""
    assert text.endswith("\n\n")
    out = []
    for block in text.split("\n\n")[:-1]:
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[6:])
        assert data["type"] == name_line[7:]
        out.append((name_line[7:], data))
    return out


def test_non_stream(fake: FakeAnthropic, client: Anthropic) -> None:
    msg = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, system="Be terse", messages=HI
    )
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == "claude-sonnet-4-6"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello! You said: hi there"
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, 5)
    assert msg.usage.cache_read_input_tokens == 0
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/messages")
    assert req.headers["anthropic-version"]
    assert req.body["max_tokens"] == 100


def test_raw_wire_format_and_x_api_key(fake: FakeAnthropic) -> None:
    body = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "a b"}]}
    r = httpx.post(f"{fake.base_url}/v1/messages", json=body, headers=raw_headers())
    assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
    assert r.json()["content"] == [{"type": "text", "text": "Hello! You said: a b"}]
    assert r.json()["usage"] == {
        "input_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
    }
    r = httpx.post(
        f"{fake.base_url}/v1/messages", json={**body, "stream": True}, headers=raw_headers()
    )
    assert r.headers["content-type"] == "text/event-stream"
    events = sse(r.text)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3:-3] == ["content_block_delta"] * 5
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 2
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "Hello! You said: a b"
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }


def test_sdk_stream(client: Anthropic) -> None:
    with client.messages.stream(model="m", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: hi there"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 5)


def test_thinking_model(client: Anthropic) -> None:
    msg = client.messages.create(model="claude-think-4", max_tokens=100, messages=HI)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    block: Any = msg.content[0]
    assert (block.thinking, block.signature) == (REASONING_TEXT, SIGNATURE)
    assert msg.usage.output_tokens == 10
    with client.messages.stream(model="claude-think-4", max_tokens=100, messages=HI) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert kinds.count("thinking_delta") >= 2 and kinds.count("signature_delta") == 1
    assert kinds.index("signature_delta") < kinds.index("text_delta")
    thinking: Any = final.content[0]
    assert (thinking.thinking, thinking.signature) == (REASONING_TEXT, SIGNATURE)


def test_tool_use_and_result(client: Anthropic) -> None:
    msg = client.messages.create(model="m", max_tokens=100, messages=HI, tools=TOOLS)
    assert msg.stop_reason == "tool_use"
    calls: list[Any] = [b for b in msg.content if b.type == "tool_use"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("toolu_") and c.input == TOOL_INPUT for c in calls)
    history: list[Any] = [
        *HI,
        {"role": "assistant", "content": [c.model_dump() for c in calls]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": calls[1].id,
                    "content": [{"type": "text", "text": "noon"}],
                },
            ],
        },
    ]
    follow = client.messages.create(model="m", max_tokens=100, messages=history, tools=TOOLS)
    assert follow.stop_reason == "end_turn"
    assert follow.content[0].type == "text" and follow.content[0].text == "Tool said: noon"
    one = client.messages.create(
        model="m",
        max_tokens=100,
        messages=HI,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "get_news"},
    )
    assert [b.name for b in one.content if b.type == "tool_use"] == ["get_news"]
    single = client.messages.create(
        model="m",
        max_tokens=100,
        messages=HI,
        tools=TOOLS,
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    assert len([b for b in single.content if b.type == "tool_use"]) == 1
    none = client.messages.create(
        model="m", max_tokens=100, messages=HI, tools=TOOLS, tool_choice={"type": "none"}
    )
    assert none.content[0].type == "text"


def test_tool_use_stream_fragments(fake: FakeAnthropic) -> None:
    body = {"model": "m", "max_tokens": 100, "messages": HI, "tools": TOOLS[:1], "stream": True}
    r = httpx.post(f"{fake.base_url}/v1/messages", json=body, headers=raw_headers())
    events = sse(r.text)
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["input"] == {}
    fragments = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == TOOL_INPUT
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_sdk_tool_stream(client: Anthropic) -> None:
    with client.messages.stream(model="m", max_tokens=100, messages=HI, tools=TOOLS) as stream:
        final = stream.get_final_message()
    assert [b.input for b in final.content if b.type == "tool_use"] == [TOOL_INPUT, TOOL_INPUT]


def test_max_tokens_cut_and_required(fake: FakeAnthropic, client: Anthropic) -> None:
    msg = client.messages.create(
        model="m", max_tokens=4, messages=[{"role": "user", "content": "one two three"}]
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello! You said: one"
    assert msg.stop_reason == "max_tokens"
    body = {"model": "m", "messages": HI}
    r = httpx.post(f"{fake.base_url}/v1/messages", json=body, headers=raw_headers())
    assert r.status_code == 400
    assert r.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="m", max_tokens=5, messages=[])
    assert info.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: Field required"},
    }


def test_auth_and_version_headers(fake: FakeAnthropic) -> None:
    with (
        Anthropic(api_key="sk-wrong", base_url=fake.base_url, max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError) as info,
    ):
        bad.messages.create(model="m", max_tokens=5, messages=HI)
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "sk-wrong" in body["error"]["message"]
    body = {"model": "m", "max_tokens": 5, "messages": HI}
    r = httpx.post(f"{fake.base_url}/v1/messages", json=body)
    assert r.status_code == 401
    r = httpx.post(f"{fake.base_url}/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "anthropic-version: header is required"


@pytest.mark.parametrize(
    ("status", "exc", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_error_behaviour(
    fake: FakeAnthropic,
    client: Anthropic,
    status: int,
    exc: type[anthropic.APIStatusError],
    kind: str,
) -> None:
    fake.script(Behaviour.error(status, "boom", retry_after=2))
    with pytest.raises(exc) as info:
        client.messages.create(model="m", max_tokens=5, messages=HI)
    err = info.value
    assert err.status_code == status
    assert err.response.headers["retry-after"] == "2"
    body: Any = err.body
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["message"].startswith("boom")
    assert KEY in body["error"]["message"]
    assert f"{fake.base_url}/v1/messages" in body["error"]["message"]
    client.messages.create(model="m", max_tokens=5, messages=HI)
    assert len(fake.requests) == 2


def test_count_tokens_and_models(fake: FakeAnthropic, client: Anthropic) -> None:
    count = client.messages.count_tokens(
        model="m", system="be nice", messages=[{"role": "user", "content": "a b c"}]
    )
    assert count.input_tokens == 5
    assert fake.requests[-1].path == "/v1/messages/count_tokens"
    assert "claude-think-4" in [m.id for m in client.models.list()]


def test_slow_and_client_timeout(fake: FakeAnthropic, client: Anthropic) -> None:
    fake.script(Behaviour.slow(0.3))
    start = time.monotonic()
    client.messages.create(model="m", max_tokens=5, messages=HI)
    assert time.monotonic() - start >= 0.3
    fake.script(Behaviour.slow(2))
    with pytest.raises(anthropic.APITimeoutError):
        client.with_options(timeout=0.2).messages.create(model="m", max_tokens=5, messages=HI)
    assert fake.wait_for_disconnects(1)


def test_drop_after_stream(fake: FakeAnthropic, client: Anthropic) -> None:
    fake.script(Behaviour.drop_after(3))
    got = []
    with pytest.raises((httpx2.TransportError, anthropic.APIError)):  # noqa: SIM117
        with client.messages.stream(model="m", max_tokens=50, messages=HI) as stream:
            for event in stream:
                got.append(event.type)
    assert got[:2] == ["message_start", "content_block_start"]
    assert "message_stop" not in got
    assert fake.disconnects == 0


def test_drop_non_stream_and_close_immediately(fake: FakeAnthropic, client: Anthropic) -> None:
    fake.script(Behaviour.drop_after(0), Behaviour.close_immediately())
    for _ in range(2):
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(model="m", max_tokens=5, messages=HI)
    ok = client.messages.create(model="m", max_tokens=50, messages=HI)
    assert ok.content[0].type == "text"


def test_slow_stream_client_disconnect_is_counted(fake: FakeAnthropic) -> None:
    fake.script(Behaviour.slow_stream(0.2))
    body = {"model": "m", "max_tokens": 50, "messages": HI, "stream": True}
    with (
        httpx.Client() as http,
        http.stream("POST", f"{fake.base_url}/v1/messages", json=body, headers=raw_headers()) as r,
    ):
        next(r.iter_lines())
    assert fake.wait_for_disconnects(1)
    assert fake.disconnects == 1


def test_thinking_in_a_tool_loop_is_checked_as_anthropic_documents(client: Anthropic) -> None:
    call = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"}
    thinking = {"type": "enabled", "budget_tokens": 1024}

    def loop(*opening: dict[str, Any], **extra: Any) -> Any:
        history = [*HI, {"role": "assistant", "content": [*opening, call]}]
        return client.messages.create(
            model="claude-think-4",
            max_tokens=2048,
            tools=TOOLS,
            messages=[*history, {"role": "user", "content": [result]}],
            **extra,
        )

    with pytest.raises(anthropic.BadRequestError, match="must start with a thinking block"):
        loop(thinking=thinking)
    signed = {"type": "thinking", "thinking": REASONING_TEXT, "signature": SIGNATURE}
    assert loop(signed, thinking=thinking).stop_reason == "end_turn"
    assert loop(thinking={"type": "disabled"}).stop_reason == "end_turn"
    assert loop({"type": "redacted_thinking", "data": "EmwK"}, thinking=thinking).content
    for foreign in ("YWlyZWxheTE6AAAA", "CiQBcsjafake-gemini", ""):
        with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
            loop({**signed, "signature": foreign}, thinking=thinking)
