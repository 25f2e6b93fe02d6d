"""Streams that are not server-sent events stream through the relay too: an Anthropic-format
upstream answering as AWS event-stream (Bedrock's InvokeModelWithResponseStream framing),
a Gemini upstream answering a streamed JSON array, and Ollama's newline-delimited JSON,
passed through and translated, reach the client as they come, billed on the usage the
upstream reported."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from fakes import eventstream
from fakes.chat_streams import anthropic_stream, gemini_chunks, ollama_lines
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.calls import stream_call
from support.gateway import Gateway
from support.ledger import usage_statuses, wait_for_rows

# Prices: $1 / $2 per 1M tokens = 10^4 / 2*10^4 units per token; both fakes report 7 + 11.
COST = 7 * 10**4 + 11 * 2 * 10**4
TEXT = "Say [DONE] or message_stop"


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def bedrock(model: str, *, cut: bool = False) -> Raw:
    """The Anthropic events of ``anthropic_stream`` as Bedrock frames them, each message
    written in two pieces that split it mid-prelude and mid-payload."""
    pieces: list[bytes] = []
    for event in anthropic_stream(model, cut=cut):
        data = event.split(b"data: ", 1)[1].strip()
        message = eventstream.chunk(orjson.loads(data))
        pieces += [message[:5], message[5:]]
    return Raw(200, {"Content-Type": "application/vnd.amazon.eventstream"}, tuple(pieces))


def json_array(model: str, *, cut: bool = False) -> Raw:
    """Gemini chunks as ``streamGenerateContent`` without ``alt=sse`` sends them."""
    elements = [orjson.dumps(chunk) for chunk in gemini_chunks(model, cut=cut)]
    pieces = [b"[" + elements[0][:9], elements[0][9:]]
    pieces += [b",\r\n" + element for element in elements[1:]]
    if not cut:
        pieces.append(b"]")
    return Raw(200, {"Content-Type": "application/json; charset=UTF-8"}, tuple(pieces))


def ndjson(model: str, *, cut: bool = False) -> Raw:
    """Ollama's lines, each written in two pieces that split it mid-line."""
    pieces: list[bytes] = []
    for line in ollama_lines(model, cut=cut):
        pieces += [line[:17], line[17:]]
    return Raw(200, {"Content-Type": "application/x-ndjson"}, tuple(pieces))


UPSTREAMS = {"anthropic": bedrock, "gemini": json_array, "ollama": ndjson}
CASES = [
    ("ollama", "openai", False),
    ("ollama", "anthropic", False),
    ("ollama", "gemini", False),
    ("ollama", "gemini", True),
    ("anthropic", "anthropic", False),
    ("anthropic", "openai", False),
    ("gemini", "gemini", False),
    ("gemini", "gemini", True),
    ("gemini", "openai", False),
]


def _setup(admin: Admin, server: ScriptedServer, kind: str) -> tuple[str, str, str]:
    model = unique_model(f"framing-{kind}")
    admin.create_channel(
        type=kind, base_url=server.origin, api_keys=["sk-framing-upstream"], models=[model]
    )
    user = admin.create_user()
    return model, user["id"], str(admin.create_token(user["id"])["key"])


@pytest.mark.parametrize(
    ("channel_fmt", "client", "array"),
    CASES,
    ids=[f"{c}-to-{k}{'-array' * a}" for c, k, a in CASES],
)
def test_framed_stream_reaches_the_client_and_is_billed(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    channel_fmt: str,
    client: str,
    array: bool,
) -> None:
    model, user_id, key = _setup(admin, server, channel_fmt)
    server.script(UPSTREAMS[channel_fmt](model))
    text = stream_call(gateway, key, client, model, array)
    assert TEXT in text.replace("\\", "")
    assert "ended before completion" not in text
    if client == "openai":
        assert text.rstrip().endswith("data: [DONE]")
    elif client == "anthropic":
        assert "event: message_stop" in text
    elif array:
        assert text.startswith("[") and text.endswith("]")
        assert len(orjson.loads(text)) >= 2  # streamed as elements, not as one whole answer
    else:
        assert text.count("data: ") >= 2
    books = wait_for_rows(gateway.settings.database_url, user_id, 1)
    assert books.usage_cost == COST
    assert usage_statuses(gateway.settings.database_url, user_id) == [200]


@pytest.mark.parametrize(
    ("channel_fmt", "client"),
    [("anthropic", "anthropic"), ("gemini", "gemini"), ("ollama", "openai")],
)
def test_framed_stream_cut_is_billed_as_cut(
    gateway: Gateway, admin: Admin, server: ScriptedServer, channel_fmt: str, client: str
) -> None:
    model, user_id, key = _setup(admin, server, channel_fmt)
    server.script(UPSTREAMS[channel_fmt](model, cut=True))
    text = stream_call(gateway, key, client, model, False)
    assert "ended before completion" in text
    assert usage_statuses(gateway.settings.database_url, user_id) == [502]


def test_eventstream_exception_ends_the_stream_with_an_error(
    gateway: Gateway, admin: Admin, server: ScriptedServer
) -> None:
    model, user_id, key = _setup(admin, server, "anthropic")
    first = anthropic_stream(model, cut=True)[0].split(b"data: ", 1)[1].strip()
    pieces = (
        eventstream.chunk(orjson.loads(first)),
        eventstream.exception("throttlingException", "Too many requests, key sk-framing-upstream"),
    )
    server.script(Raw(200, {"Content-Type": "application/vnd.amazon.eventstream"}, pieces))
    text = stream_call(gateway, key, "anthropic", model, False)
    assert "event: error" in text and "throttlingException" in text
    assert "sk-framing-upstream" not in text
    assert usage_statuses(gateway.settings.database_url, user_id) == [502]


def test_whole_json_object_to_a_stream_call_is_still_a_whole_answer(
    gateway: Gateway, admin: Admin, server: ScriptedServer
) -> None:
    """An upstream that answers a stream request with one JSON object (not an array) is
    read whole, as before."""
    model, user_id, key = _setup(admin, server, "gemini")
    whole = gemini_chunks(model, cut=False)[-1]
    server.script(Raw.json(orjson.dumps(whole)))
    url = f"/v1beta/models/{model}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    response = httpx.post(
        gateway.url + url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20
    )
    assert response.status_code == 200, response.text
    assert wait_for_rows(gateway.settings.database_url, user_id, 1).usage_cost == COST


def test_ndjson_error_line_ends_the_stream_with_an_error(
    gateway: Gateway, admin: Admin, server: ScriptedServer
) -> None:
    """Ollama reports a failure after the head as a line ``{"error": ...}``."""
    model, user_id, key = _setup(admin, server, "ollama")
    first = ollama_lines(model, cut=True)[0]
    failure = b'{"error":"model runner stopped, key sk-framing-upstream"}\n'
    server.script(Raw(200, {"Content-Type": "application/x-ndjson"}, (first, failure)))
    text = stream_call(gateway, key, "openai", model, False)
    assert "model runner stopped" in text
    assert "sk-framing-upstream" not in text
    assert usage_statuses(gateway.settings.database_url, user_id) == [502]
