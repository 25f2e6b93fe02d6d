"""Self-test of the fake OpenAI upstream, driven by the official SDK and raw httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from .openai_upstream import Behaviour, FakeOpenAI

KEY = "sk-upstream-test"
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in ("get_weather", "get_time", "get_news")
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(KEY, "sk-second")) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0, timeout=5) as c:
        yield c


def test_non_stream(fake: FakeOpenAI, client: OpenAI) -> None:
    resp = client.chat.completions.create(
        model="gpt-4o-mini-2024-07-18",
        messages=[
            {"role": "system", "content": "Be terse"},
            {"role": "user", "content": "hi there"},
        ],
    )
    assert resp.id.startswith("chatcmpl-")
    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o-mini-2024-07-18"
    assert resp.system_fingerprint == "fp_fake"
    choice = resp.choices[0]
    assert choice.message.content == "Hello! You said: hi there"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (4, 5)
    assert resp.usage.total_tokens == 9
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.api_key == KEY
    assert req.body["model"] == "gpt-4o-mini-2024-07-18"
    assert json.loads(req.raw) == req.body


def test_n_max_tokens_and_list_content(client: OpenAI) -> None:
    resp = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": [{"type": "text", "text": "one two three"}]}],
        n=2,
        max_tokens=4,
    )
    assert [c.index for c in resp.choices] == [0, 1]
    assert all(c.message.content == "Hello! You said: one" for c in resp.choices)
    assert all(c.finish_reason == "length" for c in resp.choices)
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (1, 8)


def test_stream_with_usage(fake: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream   me\nplease"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len({(c.id, c.created, c.model) for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! You said: stream   me\nplease"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_raw_wire_format(fake: FakeOpenAI) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "a b"}], "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    events = r.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all("usage" not in c for c in chunks)  # no include_usage -> no usage key at all
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["Hello! ", "You ", "said: ", "a ", "b"]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_tool_calls_stream_reassembly(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=TOOLS,
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    arg_chunks = 0
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += tc.id or ""
            assert tc.function is not None
            call["name"] += tc.function.name or ""
            call["arguments"] += tc.function.arguments or ""
            arg_chunks += bool(tc.function.arguments)
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert all(c["id"].startswith(f"call_{i}_") for i, c in calls.items())
    for call in calls.values():
        assert json.loads(call["arguments"]) == {"location": "Paris", "unit": "celsius"}
    assert arg_chunks >= 6


def test_tool_calls_non_stream_and_tool_result(client: OpenAI) -> None:
    resp = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS[:1]
    )
    msg = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert msg.content is None
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    history: list[Any] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "22C and sunny"},
    ]
    follow = client.chat.completions.create(model="gpt-4o", tools=TOOLS, messages=history)
    assert follow.choices[0].message.content == "Tool said: 22C and sunny"
    hi: list[Any] = [{"role": "user", "content": "hi"}]
    none = client.chat.completions.create(
        model="gpt-4o", messages=hi, tools=TOOLS, tool_choice="none"
    )
    assert none.choices[0].message.content == "Hello! You said: hi"


def test_reasoning_content(client: OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "think"}]
    resp = client.chat.completions.create(model="deepseek-reasoner", messages=messages)
    msg: Any = resp.choices[0].message
    assert msg.reasoning_content == "Let me think about this."
    assert msg.content == "Hello! You said: think"
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 5
    stream = client.chat.completions.create(
        model="deepseek-reasoner", messages=messages, stream=True
    )
    deltas: list[Any] = [c.choices[0].delta for c in stream]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == "Let me think about this."
    first_content = next(i for i, d in enumerate(deltas) if d.content)
    last_reasoning = max(i for i, d in enumerate(deltas) if getattr(d, "reasoning_content", None))
    assert last_reasoning < first_content


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (400, openai.BadRequestError),
    ],
)
def test_error_behaviour(
    fake: FakeOpenAI, client: OpenAI, status: int, exc: type[openai.APIStatusError]
) -> None:
    fake.script(Behaviour.error(status, "boom", retry_after=2))
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    err = info.value
    assert err.status_code == status
    assert err.response.headers["retry-after"] == "2"
    body: Any = err.body
    assert body["message"].startswith("boom")
    assert KEY in body["message"]
    assert f"{fake.base_url}/chat/completions" in body["message"]
    assert set(body) == {"message", "type", "param", "code"}
    # the queue is consumed: the next request gets the default behaviour
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(fake.requests) == 2


def test_bad_key(fake: FakeOpenAI) -> None:
    with (
        OpenAI(api_key="sk-wrong", base_url=fake.base_url, max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    body: Any = info.value.body
    assert body["code"] == "invalid_api_key" and body["type"] == "invalid_request_error"
    assert "sk-wrong" in body["message"]
    assert fake.requests[0].api_key == "sk-wrong"
    assert httpx.get(f"{fake.base_url}/models").status_code == 401


def test_models(fake: FakeOpenAI, client: OpenAI) -> None:
    assert "deepseek-reasoner" in [m.id for m in client.models.list()]
    assert fake.requests[-1].path == "/v1/models"


def test_slow(fake: FakeOpenAI, client: OpenAI) -> None:
    fake.script(Behaviour.slow(0.3))
    start = time.monotonic()
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - start >= 0.3
    fake.script(Behaviour.slow(2))
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert fake.wait_for_disconnects(1)


def test_drop_after_stream(fake: FakeOpenAI, client: OpenAI) -> None:
    fake.script(Behaviour.drop_after(2))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x y z"}], stream=True
    )
    got = []
    with pytest.raises((httpx.TransportError, openai.APIError)):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2
    assert fake.disconnects == 0  # a drop by the fake itself is not a client disconnect


def test_drop_after_non_stream_and_close_immediately(fake: FakeOpenAI, client: OpenAI) -> None:
    fake.script(Behaviour.drop_after(0), Behaviour.close_immediately())
    for _ in range(2):
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(fake.requests) == 2
    ok = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert ok.choices[0].message.content == "Hello! You said: x"


def test_slow_stream_client_disconnect_is_counted(fake: FakeOpenAI) -> None:
    fake.script(Behaviour.slow_stream(0.2))
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c d"}], "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client() as http,
        http.stream("POST", f"{fake.base_url}/chat/completions", json=body, headers=headers) as r,
    ):
        next(r.iter_lines())
    assert fake.wait_for_disconnects(1)
    assert fake.disconnects == 1
