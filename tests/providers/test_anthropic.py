"""Anthropic requests: ``/v1/messages`` below the SDK's root, with or without ``/v1``; the
client's betas forwarded after the channel's rules, and by no other provider."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.anthropic import ANTHROPIC_VERSION, Anthropic
from airelay.providers.base import ClientExtras, Forward, Provider
from airelay.providers.bedrock import Bedrock
from airelay.providers.gemini import Gemini
from airelay.providers.openai import OpenAICompatible

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


class _Channel:
    def __init__(self, rules: dict[str, str | None] | None = None) -> None:
        self.anthropic_betas = rules


def test_count_tokens_url_and_fields() -> None:
    head = ANTHROPIC.count_tokens_head("https://api.anthropic.com/v1", "sk-ant-1")
    assert head.url == "https://api.anthropic.com/v1/messages/count_tokens"
    assert head.headers["x-api-key"] == "sk-ant-1"
    assert head.headers["anthropic-version"] == ANTHROPIC_VERSION


def test_forwards_betas_after_the_channel_rules_and_the_beta_query() -> None:
    extras = ClientExtras({"anthropic-beta": "a-1,b-2,c-3"}, {"beta": "true"})
    forward = ANTHROPIC.forward(extras, _Channel({"a-1": None, "b-2": "b-3"}))
    assert forward == Forward({"anthropic-beta": "b-3,c-3"}, "beta=true")
    plain = ANTHROPIC.forward(ClientExtras({"anthropic-beta": "a-1"}, {}), _Channel())
    assert plain == Forward({"anthropic-beta": "a-1"}, "")


def test_forwards_nothing_when_the_rules_strip_every_beta() -> None:
    extras = ClientExtras({"anthropic-beta": "a-1"}, {})
    assert ANTHROPIC.forward(extras, _Channel({"a-1": None})) is None
    # The beta query alone still goes on; any other value of it does not.
    query = ClientExtras({"anthropic-beta": "a-1"}, {"beta": "true"})
    assert ANTHROPIC.forward(query, _Channel({"a-1": None})) == Forward({}, "beta=true")
    assert ANTHROPIC.forward(ClientExtras({}, {"beta": "yes"}), _Channel()) is None


@pytest.mark.parametrize("other", [OpenAICompatible(), Gemini(), Bedrock()])
def test_other_providers_forward_nothing(other: Provider) -> None:
    extras = ClientExtras({"anthropic-beta": "a-1"}, {"beta": "true"})
    assert other.forward(extras, _Channel()) is None
