"""Self-test of the fake Gemini upstream, driven by the official google-genai SDK and httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2  # the transport of google-genai
import pytest
from google import genai
from google.genai import errors, types

from .gemini_upstream import REASONING_TEXT, TOOL_INPUT, Behaviour, FakeGemini

KEY = "AIza-upstream-test"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather of a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": {"type": "STRING"}}),
)
TIME = types.FunctionDeclaration(name="get_time", description="Time of a city")
TOOLS = [types.Tool(function_declarations=[WEATHER, TIME])]
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=(KEY, "AIza-second")) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGemini) -> FakeGemini:
    server.reset()
    server.invalid_key_status = 401
    return server


def make_client(fake: FakeGemini, key: str = KEY, **options: Any) -> genai.Client:
    http = types.HttpOptions(base_url=fake.base_url, api_version="v1beta", **options)
    return genai.Client(api_key=key, http_options=http)


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return make_client(fake)


def url(fake: FakeGemini, method: str, model: str = "gemini-2.5-flash") -> str:
    return f"{fake.base_url}/v1beta/models/{model}:{method}"


BODY = {"contents": [{"role": "user", "parts": [{"text": "a b"}]}]}


def test_generate(fake: FakeGemini, client: genai.Client) -> None:
    resp = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi there",
        config=types.GenerateContentConfig(system_instruction="Be terse"),
    )
    assert resp.text == "Hello! You said: hi there"
    assert resp.candidates is not None
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.candidates[0].content is not None and resp.candidates[0].content.role == "model"
    meta = resp.usage_metadata
    assert meta is not None
    assert (meta.prompt_token_count, meta.candidates_token_count) == (4, 5)
    assert meta.total_token_count == 9 and meta.thoughts_token_count is None
    assert resp.model_version == "gemini-2.5-flash" and resp.response_id
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1beta/models/gemini-2.5-flash:generateContent")
    assert req.headers["x-goog-api-key"] == KEY
    assert req.body["contents"] == [{"role": "user", "parts": [{"text": "hi there"}]}]


def test_default_api_version_and_key_in_query(fake: FakeGemini) -> None:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=fake.base_url))
    assert client.models.generate_content(model="m", contents="x").text == "Hello! You said: x"
    assert fake.requests[-1].path.startswith("/v1/models/m:generateContent")
    r = httpx.post(url(fake, "generateContent") + f"?key={KEY}", json=BODY)
    assert r.status_code == 200
    assert r.json()["candidates"][0] == {
        "content": {"parts": [{"text": "Hello! You said: a b"}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }


def test_stream_sse(fake: FakeGemini, client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model="m", contents="hi there you"))
    assert "".join(c.text or "" for c in chunks) == "Hello! You said: hi there you"
    assert len(chunks) == 6
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count == 6
    assert fake.requests[-1].path == "/v1beta/models/m:streamGenerateContent?alt=sse"
    r = httpx.post(
        url(fake, "streamGenerateContent") + "?alt=sse", json=BODY, headers={"x-goog-api-key": KEY}
    )
    assert r.headers["content-type"] == "text/event-stream"
    events = r.text.split("\r\n\r\n")
    assert events[-1] == ""
    data = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    counts = [d["usageMetadata"]["candidatesTokenCount"] for d in data]
    assert counts == sorted(counts) and counts[-1] == 5  # cumulative, not per chunk


def test_stream_json_array(fake: FakeGemini) -> None:
    headers = {"x-goog-api-key": KEY}
    with (
        httpx.Client() as http,
        http.stream("POST", url(fake, "streamGenerateContent"), json=BODY, headers=headers) as r,
    ):
        assert r.headers["content-type"].startswith("application/json")
        pieces = list(r.iter_raw())
    body = b"".join(pieces)
    assert body.startswith(b"[{") and body.endswith(b"}]")
    chunks = json.loads(body)
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Hello! You said: a b"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_function_calls_and_response(client: genai.Client) -> None:
    config = types.GenerateContentConfig(tools=TOOLS, automatic_function_calling=NO_AFC)
    resp = client.models.generate_content(model="m", contents="weather?", config=config)
    calls = resp.function_calls or []
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", TOOL_INPUT),
        ("get_time", TOOL_INPUT),
    ]
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.candidates[0].content is not None
    history = [
        types.Content(role="user", parts=[types.Part(text="weather?")]),
        resp.candidates[0].content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "22C"}),
                types.Part.from_function_response(name="get_time", response={"hour": 12}),
            ],
        ),
    ]
    follow = client.models.generate_content(model="m", contents=history, config=config)
    assert follow.text == 'Tool said: {"hour":12}'
    weather_only = types.Part.from_function_response(name="get_weather", response={"result": "22C"})
    last = types.Content(role="user", parts=[weather_only])
    follow = client.models.generate_content(model="m", contents=[*history[:2], last], config=config)
    assert follow.text == "Tool said: 22C"
    forced = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_time"]
        )
    )
    one = client.models.generate_content(
        model="m", contents="x", config=config.model_copy(update={"tool_config": forced})
    )
    assert [c.name for c in one.function_calls or []] == ["get_time"]
    off = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.NONE
        )
    )
    none = client.models.generate_content(
        model="m", contents="x", config=config.model_copy(update={"tool_config": off})
    )
    assert none.text == "Hello! You said: x"


def test_function_calls_stream_whole(client: genai.Client) -> None:
    config = types.GenerateContentConfig(tools=TOOLS, automatic_function_calling=NO_AFC)
    chunks = list(client.models.generate_content_stream(model="m", contents="w", config=config))
    assert len(chunks) == 1
    assert [c.args for c in chunks[0].function_calls or []] == [TOOL_INPUT, TOOL_INPUT]


def test_thinking(client: genai.Client) -> None:
    resp = client.models.generate_content(model="gemini-think-2.5", contents="hi")
    assert resp.usage_metadata is not None and resp.usage_metadata.thoughts_token_count == 5
    assert resp.usage_metadata.total_token_count == 1 + 4 + 5
    assert resp.candidates and resp.candidates[0].content and resp.candidates[0].content.parts
    assert [p.thought for p in resp.candidates[0].content.parts] == [None]
    thinking = types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
    config = types.GenerateContentConfig(thinking_config=thinking)
    resp = client.models.generate_content(model="gemini-think-2.5", contents="hi", config=config)
    assert resp.candidates and resp.candidates[0].content and resp.candidates[0].content.parts
    parts = resp.candidates[0].content.parts
    assert [(p.text, p.thought) for p in parts] == [
        (REASONING_TEXT, True),
        ("Hello! You said: hi", None),
    ]
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-think-2.5", contents="hi", config=config
        )
    )
    first = chunks[0].candidates[0].content.parts[0]  # type: ignore[index,union-attr]
    assert (first.text, first.thought) == (REASONING_TEXT, True)


def test_max_tokens(client: genai.Client) -> None:
    config = types.GenerateContentConfig(max_output_tokens=4)
    resp = client.models.generate_content(model="m", contents="one two three", config=config)
    assert resp.text == "Hello! You said: one"
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_auth_errors(fake: FakeGemini) -> None:
    bad = make_client(fake, "AIza-wrong")  # kept: a dropped Client closes its transport
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model="m", contents="x")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
    r = httpx.post(url(fake, "generateContent"), json=BODY)
    assert r.status_code == 403
    assert r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert set(r.json()["error"]) == {"code", "message", "status"}
    fake.invalid_key_status = 400  # the real API's answer to a wrong key
    r = httpx.post(url(fake, "generateContent") + "?key=AIza-wrong", json=BODY)
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize(
    ("status", "exc", "name"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_error_behaviour(
    fake: FakeGemini, client: genai.Client, status: int, exc: type[errors.APIError], name: str
) -> None:
    fake.script(Behaviour.error(status, "boom", retry_after=2))
    with pytest.raises(exc) as info:
        client.models.generate_content(model="m", contents="x")
    err = info.value
    assert (err.code, err.status) == (status, name)
    assert err.message is not None and err.message.startswith("boom")
    assert KEY in err.message and url(fake, "generateContent", "m") in err.message
    assert client.models.generate_content(model="m", contents="x").text
    assert len(fake.requests) == 2


def test_key_in_url_appears_in_scripted_error(fake: FakeGemini) -> None:
    fake.script(Behaviour.error(500, "boom"))
    r = httpx.post(url(fake, "generateContent") + f"?key={KEY}", json=BODY)
    assert r.status_code == 500 and f"?key={KEY}" in r.json()["error"]["message"]


def test_invalid_request(fake: FakeGemini, client: genai.Client) -> None:
    r = httpx.post(url(fake, "generateContent"), json={}, headers={"x-goog-api-key": KEY})
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = httpx.post(url(fake, "explode"), json=BODY, headers={"x-goog-api-key": KEY})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


def test_count_tokens_and_models(fake: FakeGemini, client: genai.Client) -> None:
    count = client.models.count_tokens(model="gemini-2.5-flash", contents="a b c")
    assert count.total_tokens == 3
    assert fake.requests[-1].path == "/v1beta/models/gemini-2.5-flash:countTokens"
    names = [m.name for m in client.models.list()]
    assert "models/gemini-think-2.5" in names
    model = client.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro" and model.output_token_limit == 65536
    with pytest.raises(errors.ClientError) as info:
        client.models.get(model="nope")
    assert info.value.code == 404


def test_slow_and_disconnect(fake: FakeGemini) -> None:
    client, impatient = make_client(fake), make_client(fake, timeout=200)  # milliseconds
    fake.script(Behaviour.slow(0.3))
    start = time.monotonic()
    client.models.generate_content(model="m", contents="x")
    assert time.monotonic() - start >= 0.3
    fake.script(Behaviour.slow(2))
    with pytest.raises(httpx2.TimeoutException):
        impatient.models.generate_content(model="m", contents="x")
    assert fake.wait_for_disconnects(1)


def test_drop_after_sse_and_array(fake: FakeGemini, client: genai.Client) -> None:
    fake.script(Behaviour.drop_after(2))
    got = []
    with pytest.raises(httpx2.TransportError):
        for chunk in client.models.generate_content_stream(model="m", contents="a b c d"):
            got.append(chunk.text)
    assert got == ["Hello! ", "You "]
    fake.script(Behaviour.drop_after(1))
    headers = {"x-goog-api-key": KEY}
    with (
        pytest.raises(httpx.TransportError),
        httpx.Client() as http,
        http.stream("POST", url(fake, "streamGenerateContent"), json=BODY, headers=headers) as r,
    ):
        r.read()
    assert fake.disconnects == 0


def test_slow_stream_client_disconnect_is_counted(fake: FakeGemini) -> None:
    fake.script(Behaviour.slow_stream(0.2))
    headers = {"x-goog-api-key": KEY}
    target = url(fake, "streamGenerateContent") + "?alt=sse"
    with httpx.Client() as http, http.stream("POST", target, json=BODY, headers=headers) as r:
        next(r.iter_lines())
    assert fake.wait_for_disconnects(1)
    assert fake.disconnects == 1
