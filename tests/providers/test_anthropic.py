"""Anthropic requests: ``/v1/messages`` below the SDK's root, with or without ``/v1``."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.anthropic import ANTHROPIC_VERSION, Anthropic

ANTHROPIC = Anthropic()


@pytest.mark.parametrize(
    "base_url",
    ["https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1"],
)
def test_messages_url_with_and_without_v1(base_url: str) -> None:
    head = ANTHROPIC.head(base_url, "sk-ant", Endpoint.CHAT, "claude-x", stream=True)
    assert head.url == "https://api.anthropic.com/v1/messages"


def test_headers_carry_key_and_version() -> None:
    head = ANTHROPIC.head("https://a", "sk-ant-1", Endpoint.CHAT, "m", stream=False)
    assert head.headers["x-api-key"] == "sk-ant-1"
    assert head.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "Authorization" not in head.headers


def test_serves_chat_only() -> None:
    assert ANTHROPIC.formats == {Endpoint.CHAT: WireFormat.ANTHROPIC}
    with pytest.raises(ValueError, match="embeddings"):
        ANTHROPIC.head("https://a", "k", Endpoint.EMBEDDINGS, "m", stream=False)
