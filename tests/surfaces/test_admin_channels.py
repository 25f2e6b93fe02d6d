"""Management API: upstream channels. Keys are masked in every answer and encrypted at rest;
bad input is a 400 in the contract's error shape; the test endpoint probes the upstream."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fakes.bedrock_upstream import TEST_KEY, FakeBedrock
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, Route, chat, expect_error, ok, table_dump


def secret_key() -> str:
    return "sk-secret-" + uuid.uuid4().hex


def assert_masked(channel: dict[str, Any], count: int) -> None:
    keys = channel["api_keys"]
    assert isinstance(keys, list) and len(keys) == count, keys
    assert all(isinstance(key, str) and key for key in keys), keys


def test_create_with_preset_defaults(admin: Admin, gateway: Gateway) -> None:
    key = secret_key()
    response = admin.http.post(
        "/v1/admin/channels",
        json={"name": "DeepSeek Official", "type": "deepseek", "api_keys": [key]},
    )
    channel = ok(response, 201)
    assert key not in response.text
    assert channel["name"] == "DeepSeek Official"
    assert channel["type"] == "deepseek"
    assert channel["base_url"] == "https://api.deepseek.com/v1"
    assert "deepseek-chat" in channel["models"]
    assert channel["priority"] == 1
    assert channel["status"] == "active"
    assert isinstance(channel["id"], str) and channel["id"]
    assert_masked(channel, 1)

    listing = admin.http.get("/v1/admin/channels")
    assert key not in listing.text
    listed = {c["id"]: c for c in ok(listing)["channels"]}
    assert listed[channel["id"]]["name"] == "DeepSeek Official"
    assert listed[channel["id"]]["api_keys"] == channel["api_keys"]

    fetched = admin.http.get(f"/v1/admin/channels/{channel['id']}")
    assert key not in fetched.text
    for field in ("id", "name", "type", "base_url", "models", "priority", "status", "api_keys"):
        assert ok(fetched)[field] == channel[field]

    # Disabled, so that no test routes a call to the real DeepSeek.
    ok(admin.http.patch(f"/v1/admin/channels/{channel['id']}", json={"status": "disabled"}))


def test_keys_are_encrypted_at_rest(admin: Admin, gateway: Gateway) -> None:
    first, second = secret_key(), secret_key()
    channel = admin.create_channel(
        type="openai", base_url="https://api.example.com/v1", api_keys=[first], status="disabled"
    )
    ok(admin.http.patch(f"/v1/admin/channels/{channel['id']}", json={"api_keys": [first, second]}))
    stored = table_dump(gateway.settings.database_url, "channels")
    assert channel["id"] in stored  # the row is there ...
    assert first not in stored and second not in stored  # ... without the keys in the clear
    assert first.removeprefix("sk-") not in stored


def test_patch_and_delete(admin: Admin, upstream: FakeOpenAI) -> None:
    old_key, new_key = secret_key(), secret_key()
    models = [unique_model("ch"), unique_model("ch")]
    channel = admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[old_key], models=models[:1]
    )
    url = f"/v1/admin/channels/{channel['id']}"
    patch = {
        "priority": 3,
        "weight": 5,
        "status": "disabled",
        "models": models,
        "api_keys": [new_key, UPSTREAM_KEY],
        "name": "renamed",
    }
    response = admin.http.patch(url, json=patch)
    changed = ok(response)
    assert new_key not in response.text and old_key not in response.text
    assert UPSTREAM_KEY not in response.text
    assert (changed["priority"], changed["weight"], changed["status"]) == (3, 5, "disabled")
    assert changed["models"] == models
    assert changed["name"] == "renamed"
    assert changed["base_url"] == upstream.base_url  # untouched by the patch
    assert_masked(changed, 2)

    fetched = admin.http.get(url)
    assert new_key not in fetched.text
    assert {k: ok(fetched)[k] for k in patch} == {k: changed[k] for k in patch}

    ok(admin.http.delete(url))
    expect_error(admin.http.get(url), 404)
    expect_error(admin.http.patch(url, json={"priority": 2}), 404)
    expect_error(admin.http.delete(url), 404)
    expect_error(admin.http.post(url + "/test"), 404)
    assert channel["id"] not in {
        c["id"] for c in ok(admin.http.get("/v1/admin/channels"))["channels"]
    }


def test_status_and_models_take_effect_at_once(
    admin: Admin, gateway: Gateway, upstream: FakeOpenAI, route: Route
) -> None:
    url = f"/v1/admin/channels/{route.channel['id']}"
    assert chat(gateway.url, route.key, route.model).status_code == 200
    ok(admin.http.patch(url, json={"status": "disabled"}))
    expect_error(chat(gateway.url, route.key, route.model), 503)
    ok(admin.http.patch(url, json={"status": "active"}))
    assert chat(gateway.url, route.key, route.model).status_code == 200

    other = unique_model("ch")
    admin.price(other, {"input": 1, "output": 2})
    ok(admin.http.patch(url, json={"models": [other]}))
    assert chat(gateway.url, route.key, other).status_code == 200
    assert chat(gateway.url, route.key, route.model).status_code in (404, 503)


BAD_CHANNELS: list[dict[str, Any]] = [
    {"priority": 0},
    {"priority": -1},
    {"priority": "high"},
    {"priority": 1.5},
    {"type": "no-such-provider"},
    {"type": 7},
    {"base_url": "api.example.com/v1"},
    {"base_url": "ftp://api.example.com"},
    {"status": "paused"},
    {"weight": -1},
    {"api_keys": "sk-not-a-list"},
    {"api_keys": [""]},
    {"api_keys": [12]},
    {"models": "gpt-4o"},
    {"models": [""]},
    {"model_mapping": ["a", "b"]},
    {"name": ""},
    {"name": None},
    {"endpoints": ["teleport"]},
    {"endpoints": ["chat", "Chat"]},
    {"endpoints": []},
    {"endpoints": "chat"},
    {"endpoints": [7]},
    {"type": "anthropic", "endpoints": ["embeddings"]},
    {"type": "bedrock", "api_keys": ["sk-not-aws-credentials"]},
]


@pytest.mark.parametrize("fields", BAD_CHANNELS, ids=repr)
def test_create_rejects_bad_fields(admin: Admin, fields: dict[str, Any]) -> None:
    body = {"name": "bad-" + uuid.uuid4().hex[:6], "api_keys": ["sk-abc-123456"], **fields}
    before = len(ok(admin.http.get("/v1/admin/channels"))["channels"])
    expect_error(admin.http.post("/v1/admin/channels", json=body), 400)
    assert len(ok(admin.http.get("/v1/admin/channels"))["channels"]) == before


@pytest.mark.parametrize("fields", [f for f in BAD_CHANNELS if "name" not in f], ids=repr)
def test_patch_rejects_bad_fields(admin: Admin, fields: dict[str, Any]) -> None:
    channel = admin.create_channel(base_url="https://api.example.com/v1", status="disabled")
    url = f"/v1/admin/channels/{channel['id']}"
    expect_error(admin.http.patch(url, json=fields), 400)
    after = ok(admin.http.get(url))
    assert {k: after[k] for k in fields} == {k: channel[k] for k in fields}


@pytest.mark.parametrize(
    "body",
    [b'{"name": "x", ', b"not json", b'["name"]', b"null", b"{}"],
    ids=repr,
)
def test_create_rejects_malformed_or_incomplete_json(admin: Admin, body: bytes) -> None:
    response = admin.http.post(
        "/v1/admin/channels", content=body, headers={"content-type": "application/json"}
    )
    expect_error(response, 400)


def test_probe_succeeds_against_the_upstream(
    admin: Admin, upstream: FakeOpenAI, route: Route
) -> None:
    response = admin.http.post(f"/v1/admin/channels/{route.channel['id']}/test")
    result = ok(response)
    assert result["success"] is True
    latency = result["latency_ms"]
    assert isinstance(latency, int | float) and not isinstance(latency, bool) and latency >= 0
    assert UPSTREAM_KEY not in response.text
    sent = upstream.chat_requests[-1]
    assert sent.api_key == UPSTREAM_KEY
    assert sent.body is not None and sent.body["model"] == route.model


def test_probe_reports_a_rejected_key_without_showing_it(
    admin: Admin, upstream: FakeOpenAI
) -> None:
    wrong = secret_key()
    channel = admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[wrong], models=[unique_model()]
    )
    response = admin.http.post(f"/v1/admin/channels/{channel['id']}/test")
    result = ok(response)
    assert result["success"] is False
    assert isinstance(result.get("message"), str) and result["message"]
    assert wrong not in response.text
    assert wrong.removeprefix("sk-") not in response.text
    assert upstream.chat_requests[-1].api_key == wrong  # the probe did reach the upstream


def test_probe_of_unknown_channel(admin: Admin) -> None:
    expect_error(admin.http.post("/v1/admin/channels/ch_does_not_exist/test"), 404)
    expect_error(admin.http.get("/v1/admin/channels/ch_does_not_exist"), 404)
    expect_error(admin.http.delete("/v1/admin/channels/ch_does_not_exist"), 404)


def test_endpoints_default_to_the_type_and_can_be_set(admin: Admin) -> None:
    plain = admin.create_channel(base_url="https://api.example.com/v1", status="disabled")
    assert plain["endpoints"] == ["chat"]
    wide = admin.create_channel(
        base_url="https://api.example.com/v1",
        status="disabled",
        endpoints=["embeddings", "chat", "responses", "chat"],
    )
    assert wide["endpoints"] == ["chat", "responses", "embeddings"]  # fixed order, once each
    url = f"/v1/admin/channels/{wide['id']}"
    assert ok(admin.http.get(url))["endpoints"] == wide["endpoints"]
    assert ok(admin.http.patch(url, json={"endpoints": ["images"]}))["endpoints"] == ["images"]
    assert ok(admin.http.patch(url, json={"endpoints": None}))["endpoints"] == ["chat"]
    anthropic = admin.create_channel(
        type="anthropic", base_url="https://api.example.com", status="disabled"
    )
    assert anthropic["endpoints"] == ["chat"]


def test_endpoints_are_checked_against_the_type_after_a_patch(admin: Admin) -> None:
    channel = admin.create_channel(
        base_url="https://api.example.com/v1",
        status="disabled",
        endpoints=["chat", "embeddings"],
    )
    url = f"/v1/admin/channels/{channel['id']}"
    message = expect_error(admin.http.patch(url, json={"type": "anthropic"}), 400)
    assert "embeddings" in message
    assert ok(admin.http.get(url))["type"] == "openai"
    patched = ok(admin.http.patch(url, json={"type": "anthropic", "endpoints": ["chat"]}))
    assert (patched["type"], patched["endpoints"]) == ("anthropic", ["chat"])


def test_bedrock_keys_must_be_aws_credentials(admin: Admin) -> None:
    secret = "sk-" + uuid.uuid4().hex
    response = admin.http.post(
        "/v1/admin/channels", json={"name": "b", "type": "bedrock", "api_keys": [secret]}
    )
    assert "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in expect_error(response, 400)
    assert secret not in response.text
    channel = admin.create_channel(
        base_url="https://api.example.com/v1", api_keys=[secret], status="disabled"
    )
    url = f"/v1/admin/channels/{channel['id']}"
    # The stored key (an OpenAI-style one) does not fit a bedrock channel.
    refused = admin.http.patch(url, json={"type": "bedrock"})
    expect_error(refused, 400)
    assert secret not in refused.text
    patched = ok(
        admin.http.patch(url, json={"type": "bedrock", "api_keys": [TEST_KEY.channel_key]})
    )
    assert patched["type"] == "bedrock"
    assert TEST_KEY.secret_key not in str(patched)
    expect_error(admin.http.patch(url, json={"api_keys": ["only-an-id"]}), 400)


def test_a_channel_serves_only_its_endpoints(
    admin: Admin, gateway: Gateway, upstream: FakeOpenAI
) -> None:
    model = unique_model("ep")
    channel = admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
        endpoints=["embeddings"],
    )
    key = admin.create_token()["key"]
    expect_error(chat(gateway.url, key, model), 503)
    assert not upstream.chat_requests
    admin.patch_channel(channel["id"], endpoints=["embeddings", "chat"])
    assert chat(gateway.url, key, model).status_code == 200
    assert len(upstream.chat_requests) == 1


def test_probe_signs_a_bedrock_request(admin: Admin) -> None:
    with FakeBedrock() as bedrock:
        model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
        channel = admin.create_channel(
            type="bedrock",
            base_url=bedrock.base_url,
            api_keys=[TEST_KEY.channel_key],
            models=[model],
            status="disabled",
        )
        response = admin.http.post(f"/v1/admin/channels/{channel['id']}/test")
        result = ok(response)
        assert result["success"] is True, result
        assert bedrock.rejected == 0
        sent = bedrock.invoke_requests[-1]
        assert sent.path == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
        assert sent.body is not None and "model" not in sent.body
        assert TEST_KEY.secret_key not in response.text
