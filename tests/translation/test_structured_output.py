"""Structured output crosses formats instead of being dropped: an OpenAI client's JSON
schema reaches an Anthropic channel as ``output_config.format`` and a Gemini one as
``responseJsonSchema``; an Anthropic client's ``output_config.format`` reaches an OpenAI
channel as ``response_format``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.gemini_upstream import FakeGemini
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def fakes(admin: Admin) -> Iterator[dict[str, Any]]:
    with FakeOpenAI() as chat, FakeAnthropic() as claude, FakeGemini() as gemini:
        found: dict[str, Any] = {}
        for kind, fake, key in (
            ("openai", chat, "sk-upstream-test"),
            ("anthropic", claude, "sk-ant-upstream-test"),
            ("gemini", gemini, "AIza-upstream-test"),
        ):
            model = unique_model(f"structured-{kind}")
            admin.create_channel(type=kind, base_url=fake.base_url, api_keys=[key], models=[model])
            found[kind] = (fake, model)
        yield found


def key_of(admin: Admin) -> str:
    return str(admin.create_token()["key"])


def test_an_openai_json_schema_reaches_anthropic_and_gemini(
    gateway: Gateway, admin: Admin, fakes: dict[str, Any]
) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key_of(admin), max_retries=0)
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": SCHEMA, "strict": True},
    }
    for kind in ("anthropic", "gemini"):
        fake, model = fakes[kind]
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "where?"}],
            response_format=response_format,
        )
        sent = fake.requests[-1].body
        if kind == "anthropic":
            assert sent["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
        else:
            config = sent["generationConfig"]
            assert config["responseMimeType"] == "application/json"
            assert config["responseJsonSchema"] == SCHEMA


def test_an_anthropic_output_format_reaches_openai(
    gateway: Gateway, admin: Admin, fakes: dict[str, Any]
) -> None:
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key_of(admin), max_retries=0)
    fake, model = fakes["openai"]
    sdk.messages.create(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": "where?"}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}},
    )
    sent = fake.requests[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA


def test_a_bare_json_object_is_asked_for_not_dropped(
    gateway: Gateway, admin: Admin, fakes: dict[str, Any]
) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key_of(admin), max_retries=0)
    fake, model = fakes["anthropic"]
    sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert "JSON object" in str(fake.requests[-1].body["system"])
