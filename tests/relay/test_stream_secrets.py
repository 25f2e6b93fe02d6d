"""An upstream's error event inside a stream that echoes the channel's key (and its URL)
reaches the client scrubbed, on every client surface, passed through or translated, while
the model's text around it arrives untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.calls import stream_call
from support.gateway import Gateway

UPSTREAM_KEY = "sk-stream-upstream-7f3a9c1e5b2d4680"
FORMATS = ("openai", "anthropic", "gemini")
TEXT = "Hello from the model"


def _openai(model: str) -> list[bytes]:
    chunk = (
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"'
        + model.encode()
        + b'","choices":[{"index":0,"delta":{"role":"assistant","content":"'
        + TEXT.encode()
        + b'"},"finish_reason":null}]}'
    )
    error = (
        b'{"error":{"message":"Incorrect API key provided: {key} (at {origin}/v1/chat/'
        b'completions)","type":"server_error","code":"key {key}"}}'
    )
    return [b"data: " + chunk + b"\n\n", b"data: " + error + b"\n\n"]


def _anthropic(model: str) -> list[bytes]:
    start = (
        b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
        b'"model":"' + model.encode() + b'","content":[],"stop_reason":null,'
        b'"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}'
    )
    block = b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
    delta = (
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
        + TEXT.encode()
        + b'"}}'
    )
    error = (
        b'{"type":"error","error":{"type":"api_error","message":"invalid x-api-key: {key} '
        b'at {origin}/v1/messages"}}'
    )
    return [
        b"event: message_start\ndata: " + start + b"\n\n",
        b"event: content_block_start\ndata: " + block + b"\n\n",
        b"event: content_block_delta\ndata: " + delta + b"\n\n",
        b"event: error\ndata: " + error + b"\n\n",
    ]


def _gemini(model: str) -> list[bytes]:
    chunk = (
        b'{"candidates":[{"content":{"role":"model","parts":[{"text":"'
        + TEXT.encode()
        + b'"}]},"index":0}],"modelVersion":"'
        + model.encode()
        + b'"}'
    )
    error = (
        b'{"error":{"code":500,"message":"API key {key} rejected at {origin}","status":"INTERNAL"}}'
    )
    return [b"data: " + chunk + b"\r\n\r\n", b"data: " + error + b"\r\n\r\n"]


STREAMS = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture(scope="module")
def user_key(admin: Admin) -> str:
    return str(admin.create_token()["key"])


def _channel(admin: Admin, server: ScriptedServer, kind: str) -> str:
    model = unique_model(f"leak-{kind}")
    base_url = server.origin + ("/v1" if kind == "openai" else "")
    admin.create_channel(type=kind, base_url=base_url, api_keys=[UPSTREAM_KEY], models=[model])
    return model


def _assert_scrubbed(text: str, server: ScriptedServer) -> None:
    assert UPSTREAM_KEY not in text, text
    assert UPSTREAM_KEY.removeprefix("sk-") not in text, text
    assert server.origin not in text, text


@pytest.mark.parametrize("one_piece", [False, True], ids=["events", "one-block"])
@pytest.mark.parametrize("channel_fmt", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_stream_error_event_is_scrubbed(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    user_key: str,
    client: str,
    channel_fmt: str,
    one_piece: bool,
) -> None:
    model = _channel(admin, server, channel_fmt)
    events = [e.replace(b"{origin}", server.origin.encode()) for e in STREAMS[channel_fmt](model)]
    server.script(Raw.sse(b"".join(events)) if one_piece else Raw.sse(*events))
    text = stream_call(gateway, user_key, client, model, expect_ok=False)
    assert server.requests, "the upstream was not called"
    _assert_scrubbed(text, server)
    assert TEXT in text  # the model's text around the error is untouched


@pytest.mark.parametrize("channel_fmt", FORMATS)
def test_gemini_json_array_stream_is_scrubbed(
    gateway: Gateway, admin: Admin, server: ScriptedServer, user_key: str, channel_fmt: str
) -> None:
    model = _channel(admin, server, channel_fmt)
    events = [e.replace(b"{origin}", server.origin.encode()) for e in STREAMS[channel_fmt](model)]
    server.script(Raw.sse(*events))
    text = stream_call(gateway, user_key, "gemini", model, json_array=True, expect_ok=False)
    _assert_scrubbed(text, server)
    assert TEXT in text


@pytest.mark.parametrize("client", FORMATS)
def test_key_echoed_in_an_ordinary_event_is_removed(
    gateway: Gateway, admin: Admin, server: ScriptedServer, user_key: str, client: str
) -> None:
    """A key that appears outside an error event (an upstream echoing it in a field) is
    removed as well; the rest of the event is kept as it came."""
    model = _channel(admin, server, client)
    events = STREAMS[client](model)[:-1]
    leaky = [e.replace(TEXT.encode(), TEXT.encode() + b" {key}") for e in events]
    server.script(Raw.sse(*leaky))
    text = stream_call(gateway, user_key, client, model, expect_ok=False)
    assert UPSTREAM_KEY not in text, text
    assert TEXT in text
