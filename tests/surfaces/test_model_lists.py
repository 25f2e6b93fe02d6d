"""``GET /v1/models`` lists every model a key may call on any endpoint its permissions open,
with the endpoints of each (``endpoints``), in OpenAI's list shape; the Anthropic and Gemini
lists stay chat-only."""

from __future__ import annotations

from dataclasses import dataclass

import anthropic
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway


@dataclass
class Models:
    chat: str  # served on chat only
    both: str  # served on chat and embeddings
    embed: str  # served on embeddings only
    unpriced: str  # routed, never priced: not listed


@pytest.fixture(scope="module")
def models(admin: Admin, upstream: FakeOpenAI) -> Models:
    names = Models(*(unique_model(stem) for stem in ("chat", "both", "embed", "unpriced")))
    common = {"type": "openai", "base_url": upstream.base_url, "api_keys": ["sk-upstream-test"]}
    admin.create_channel(**common, models=[names.chat])
    admin.create_channel(**common, models=[names.both], endpoints=["chat", "embeddings"])
    admin.create_channel(**common, models=[names.embed], endpoints=["embeddings"])
    # A channel whose model has no price: create it, then take the price away again.
    channel = admin.create_channel(**common, models=[names.unpriced])
    assert channel["models"] == [names.unpriced]
    response = admin.http.delete(f"/v1/admin/models/{names.unpriced}")
    assert response.status_code == 200, response.text
    return names


def _listed(gateway: Gateway, key: str) -> dict[str, list[str]]:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    page = sdk.models.list()
    assert all(model.object == "model" for model in page.data)
    return {model.id: (model.model_extra or {})["endpoints"] for model in page.data}


def test_every_endpoint_the_key_may_use(gateway: Gateway, admin: Admin, models: Models) -> None:
    key = admin.create_token(permissions=["chat", "embeddings"])["key"]
    listed = _listed(gateway, key)
    # A chat channel also serves the Responses API (translated): both are listed.
    assert listed[models.chat] == ["chat", "responses"]
    assert listed[models.both] == ["chat", "responses", "embeddings"]
    assert listed[models.embed] == ["embeddings"]
    assert models.unpriced not in listed
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    one = sdk.models.retrieve(models.embed)
    assert one.id == models.embed and (one.model_extra or {})["endpoints"] == ["embeddings"]


def test_only_what_the_permissions_open(gateway: Gateway, admin: Admin, models: Models) -> None:
    key = admin.create_token(permissions=["embeddings"])["key"]
    listed = _listed(gateway, key)
    assert listed[models.both] == ["embeddings"] and listed[models.embed] == ["embeddings"]
    assert models.chat not in listed
    chat_only = admin.create_token(permissions=["chat"])["key"]
    listed = _listed(gateway, chat_only)
    assert models.embed not in listed and listed[models.both] == ["chat", "responses"]
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=chat_only, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve(models.embed)


def test_the_allow_list_holds(gateway: Gateway, admin: Admin, models: Models) -> None:
    key = admin.create_token(models=[models.embed])["key"]
    assert _listed(gateway, key) == {models.embed: ["embeddings"]}


def test_the_anthropic_list_is_chat_only(gateway: Gateway, admin: Admin, models: Models) -> None:
    key = admin.create_token()["key"]
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    ids = [model.id for model in sdk.models.list()]
    assert models.chat in ids and models.both in ids and models.embed not in ids
