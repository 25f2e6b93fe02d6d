"""A stream is complete only when its format's real end arrives, never because the model
wrote the end's spelling as text: a model answer holding ``[DONE]``, ``message_stop`` and
``"finishReason"`` (as text, and as a tool call's argument name), then cut before the real
end, is billed as cut (a 502 usage row) and the client gets an error event; the same answer
with its real end is a 200. For every client format (Gemini both as SSE and as a JSON
array), passed through and translated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.chat_streams import STREAMS
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.calls import stream_call
from support.gateway import Gateway
from support.ledger import usage_statuses

CUT = "upstream stream ended before completion"
# Which client surfaces to try: (client format, Gemini JSON-array mode).
CLIENTS = [("openai", False), ("anthropic", False), ("gemini", False), ("gemini", True)]
# A channel of another format for each client format: the translated path.
OTHER = {"openai": "anthropic", "anthropic": "gemini", "gemini": "openai"}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def channel(admin: Admin, server: ScriptedServer, kind: str) -> str:
    model = unique_model(f"end-{kind}")
    base_url = server.origin + ("/v1" if kind == "openai" else "")
    admin.create_channel(type=kind, base_url=base_url, api_keys=["sk-end-upstream"], models=[model])
    return model


@pytest.mark.parametrize("cut", [True, False], ids=["cut", "whole"])
@pytest.mark.parametrize("translated", [False, True], ids=["same", "translated"])
@pytest.mark.parametrize(
    ("client", "json_array"), CLIENTS, ids=[c + ("-array" if a else "") for c, a in CLIENTS]
)
def test_end_spelled_as_text_does_not_complete_a_stream(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    client: str,
    json_array: bool,
    translated: bool,
    cut: bool,
) -> None:
    channel_fmt = OTHER[client] if translated else client
    model = channel(admin, server, channel_fmt)
    server.script(Raw.sse(*STREAMS[channel_fmt](model, cut=cut)))
    user = admin.create_user()
    key = str(admin.create_token(user["id"])["key"])
    text = stream_call(gateway, key, client, model, json_array)
    assert "[DONE]" in text and "message_stop" in text  # the model's text reached the client
    statuses = usage_statuses(gateway.settings.database_url, user["id"])
    if cut:
        assert CUT in text, text
        assert statuses == [502]
    else:
        assert CUT not in text, text
        assert statuses == [200]
