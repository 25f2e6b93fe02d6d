"""Management API: user API keys. The secret is shown once; permissions, models, expiry and
IP allow-lists are enforced on the next call; DELETE revokes and keeps the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import Route, chat, expect_error, make_route, ok

ALL_PERMISSIONS = {"chat", "embeddings", "images", "audio", "video", "rerank"}


def test_key_is_shown_once(admin: Admin, gateway: Gateway, route: Route) -> None:
    token = route.token
    key = token["key"]
    assert key.startswith("sk-") and len(key) >= 20
    assert token["user_id"] == route.user["id"]
    assert token["status"] == "active"
    assert set(token["permissions"]) == ALL_PERMISSIONS
    assert chat(gateway.url, key, route.model).status_code == 200

    for path in (f"/v1/admin/tokens/{token['id']}", f"/admin/tokens/{token['id']}"):
        fetched = admin.http.get(path)
        assert key not in fetched.text
        assert "key" not in ok(fetched)
        assert ok(fetched)["id"] == token["id"]
    for params in ({}, {"user_id": route.user["id"]}):
        listing = admin.http.get("/v1/admin/tokens", params=params)
        assert key not in listing.text
        assert token["id"] in {t["id"] for t in ok(listing)["tokens"]}
    patched = admin.http.patch(f"/v1/admin/tokens/{token['id']}", json={"name": "renamed"})
    assert ok(patched)["name"] == "renamed" and key not in patched.text
    assert admin.create_token(route.user["id"])["key"] != key


def test_create_with_all_fields(admin: Admin) -> None:
    user = admin.create_user()
    fields = {
        "name": "Production App",
        "permissions": ["chat", "embeddings"],
        "models": ["gpt-4o-mini"],
        "expires_at": "2031-05-06T07:08:09Z",
        "quota": 12.5,
        "rpm": 30,
        "tpm": 40000,
        "ip_allowlist": ["10.0.0.0/8", "192.168.1.7"],
    }
    token = admin.create_token(user["id"], **fields)
    for name in ("name", "models", "quota", "rpm", "tpm"):
        assert token[name] == fields[name], name
    assert set(token["permissions"]) == {"chat", "embeddings"}
    assert len(token["ip_allowlist"]) == 2
    fetched = ok(admin.http.get(f"/v1/admin/tokens/{token['id']}"))
    assert {k: fetched[k] for k in fields} == {k: token[k] for k in fields}


@pytest.mark.parametrize(
    "given",
    ["2031-05-06T07:08:09Z", "2031-05-06T15:08:09+08:00", "2031-05-06T07:08:09+00:00"],
)
def test_expires_at_round_trips(admin: Admin, given: str) -> None:
    token = admin.create_token(expires_at=given)
    expected = datetime.fromisoformat(given)
    assert datetime.fromisoformat(token["expires_at"]) == expected
    fetched = ok(admin.http.get(f"/v1/admin/tokens/{token['id']}"))
    assert datetime.fromisoformat(fetched["expires_at"]) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"permissions": ["chat", "admin"]},
        {"permissions": "chat"},
        {"expires_at": "next tuesday"},
        {"expires_at": 1893456000},
        {"models": "gpt-4o"},
        {"quota": -1},
        {"quota": 1e-12},
        {"rpm": -1},
        {"rpm": "fast"},
        {"tpm": 1.5},
        {"ip_allowlist": ["not-an-address"]},
        {"ip_allowlist": ["10.0.0.0/33"]},
        {"ip_allowlist": "127.0.0.1"},
    ],
    ids=repr,
)
def test_create_and_patch_reject_bad_fields(admin: Admin, fields: dict[str, Any]) -> None:
    user = admin.create_user()
    before = ok(admin.http.get("/v1/admin/tokens", params={"user_id": user["id"]}))["total"]
    expect_error(admin.http.post("/v1/admin/tokens", json={"user_id": user["id"], **fields}), 400)
    after = ok(admin.http.get("/v1/admin/tokens", params={"user_id": user["id"]}))["total"]
    assert after == before

    token = admin.create_token(user["id"])
    url = f"/v1/admin/tokens/{token['id']}"
    expect_error(admin.http.patch(url, json=fields), 400)
    fetched = ok(admin.http.get(url))
    assert {k: fetched[k] for k in fields} == {k: token[k] for k in fields}


def test_create_needs_a_known_user(admin: Admin) -> None:
    expect_error(admin.http.post("/v1/admin/tokens", json={"user_id": "usr_nope"}), 404)
    expect_error(admin.http.post("/v1/admin/tokens", json={"name": "orphan"}), 400)
    response = admin.http.post(
        "/v1/admin/tokens", content=b'{"user_id": ', headers={"content-type": "application/json"}
    )
    expect_error(response, 400)


def test_expired_key_is_refused(admin: Admin, gateway: Gateway, route: Route) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    expired = admin.create_token(route.user["id"], expires_at=past)
    expect_error(chat(gateway.url, expired["key"], route.model), 401)

    url = f"/v1/admin/tokens/{route.token['id']}"
    assert chat(gateway.url, route.key, route.model).status_code == 200
    ok(admin.http.patch(url, json={"expires_at": past}))
    expect_error(chat(gateway.url, route.key, route.model), 401)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ok(admin.http.patch(url, json={"expires_at": future}))
    assert chat(gateway.url, route.key, route.model).status_code == 200


def test_revoke_keeps_the_record(admin: Admin, gateway: Gateway, route: Route) -> None:
    url = f"/v1/admin/tokens/{route.token['id']}"
    assert chat(gateway.url, route.key, route.model).status_code == 200
    revoked = admin.http.delete(url)
    assert ok(revoked)["status"] == "revoked" and route.key not in revoked.text
    expect_error(chat(gateway.url, route.key, route.model), 401)
    assert ok(admin.http.get(url))["status"] == "revoked"
    listing = ok(admin.http.get("/v1/admin/tokens", params={"user_id": route.user["id"]}))
    assert {t["id"]: t["status"] for t in listing["tokens"]}[route.token["id"]] == "revoked"

    # A revoked key stays revoked.
    response = admin.http.patch(url, json={"status": "active"})
    assert 400 <= response.status_code < 500, response.text
    expect_error(chat(gateway.url, route.key, route.model), 401)
    expect_error(admin.http.delete("/v1/admin/tokens/tok_does_not_exist"), 404)


def test_model_allow_list(admin: Admin, gateway: Gateway, upstream: FakeOpenAI) -> None:
    route = make_route(admin, upstream, models=2)
    allowed, other = route.channel["models"]
    assert chat(gateway.url, route.key, other).status_code == 200
    patched = ok(
        admin.http.patch(f"/v1/admin/tokens/{route.token['id']}", json={"models": [allowed]})
    )
    assert patched["models"] == [allowed]
    expect_error(chat(gateway.url, route.key, other), 403)
    assert chat(gateway.url, route.key, allowed).status_code == 200
    visible = httpx.get(
        f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {route.key}"}
    ).json()
    names = {m["id"] for m in visible["data"]}
    assert allowed in names and other not in names


def test_permissions(admin: Admin, gateway: Gateway, route: Route) -> None:
    url = f"/v1/admin/tokens/{route.token['id']}"
    ok(admin.http.patch(url, json={"permissions": ["embeddings"]}))
    expect_error(chat(gateway.url, route.key, route.model), 403)
    ok(admin.http.patch(url, json={"permissions": ["chat"]}))
    assert chat(gateway.url, route.key, route.model).status_code == 200


def test_ip_allowlist(admin: Admin, gateway: Gateway, route: Route) -> None:
    url = f"/v1/admin/tokens/{route.token['id']}"
    ok(admin.http.patch(url, json={"ip_allowlist": ["10.0.0.0/8"]}))
    expect_error(chat(gateway.url, route.key, route.model), 403)
    for allowed in (["127.0.0.1"], ["10.0.0.0/8", "127.0.0.0/8"]):
        ok(admin.http.patch(url, json={"ip_allowlist": allowed}))
        assert chat(gateway.url, route.key, route.model).status_code == 200
    ok(admin.http.patch(url, json={"ip_allowlist": None}))
    assert chat(gateway.url, route.key, route.model).status_code == 200


def test_list_filtered_by_user(admin: Admin) -> None:
    alice, bob = admin.create_user(), admin.create_user()
    mine = {admin.create_token(alice["id"])["id"] for _ in range(2)}
    theirs = admin.create_token(bob["id"])["id"]
    body = ok(admin.http.get("/v1/admin/tokens", params={"user_id": alice["id"]}))
    assert {t["id"] for t in body["tokens"]} == mine
    assert {t["user_id"] for t in body["tokens"]} == {alice["id"]}
    assert body["total"] == 2
    everyone = {
        t["id"] for t in ok(admin.http.get("/v1/admin/tokens", params={"limit": 200}))["tokens"]
    }
    assert mine | {theirs} <= everyone
    expect_error(admin.http.get("/v1/admin/tokens", params={"limit": 201}), 400)
