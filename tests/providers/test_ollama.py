"""Ollama requests: ``/api/chat`` below the server's root, no credential for a channel
without a key, a Bearer for one with a key, NDJSON streams."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.ollama import Ollama
from airelay.providers.presets import preset

OLLAMA = Ollama()


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:11434", "http://127.0.0.1:11434/", "http://127.0.0.1:11434/api"],
)
def test_chat_url(base_url: str) -> None:
    for stream in (False, True):  # the body says whether it streams, not the URL
        head = OLLAMA.head(base_url, "", Endpoint.CHAT, "llama3.2", stream=stream)
        assert head.url == "http://127.0.0.1:11434/api/chat"


def test_no_key_no_authorization_and_a_key_as_a_bearer() -> None:
    keyless = OLLAMA.head("http://h:1", "", Endpoint.CHAT, "m", stream=False)
    assert dict(keyless.headers) == {"Content-Type": "application/json"}
    keyed = OLLAMA.head("http://h:1", "sk-proxy", Endpoint.CHAT, "m", stream=False)
    assert keyed.headers["Authorization"] == "Bearer sk-proxy"


def test_what_it_serves() -> None:
    assert OLLAMA.formats == {Endpoint.CHAT: WireFormat.OLLAMA}
    assert OLLAMA.framing is Framing.NDJSON
    assert not OLLAMA.key_required and not OLLAMA.per_call
    with pytest.raises(ValueError):
        OLLAMA.head("http://h:1", "", Endpoint.EMBEDDINGS, "m", stream=False)
    channel_type = preset("ollama")
    assert channel_type.base_url == "http://127.0.0.1:11434"
    assert isinstance(channel_type.provider, Ollama)
