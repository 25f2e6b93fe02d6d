"""Management API: who may call it, its error shape on every route, and system settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.admin import Admin
from surfaces.admin_kit import expect_error, ok

# Every management route with a made-up id: the key check comes before anything else.
ADMIN_ROUTES: list[tuple[str, str]] = [
    ("GET", "/admin/settings"),
    ("PATCH", "/admin/settings"),
    ("GET", "/admin/channels"),
    ("POST", "/admin/channels"),
    ("GET", "/admin/channels/ch_nope"),
    ("PATCH", "/admin/channels/ch_nope"),
    ("DELETE", "/admin/channels/ch_nope"),
    ("POST", "/admin/channels/ch_nope/test"),
    ("GET", "/admin/models"),
    ("POST", "/admin/models"),
    ("GET", "/admin/models/openai/gpt-4.1"),
    ("PATCH", "/admin/models/openai/gpt-4.1"),
    ("DELETE", "/admin/models/openai/gpt-4.1"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/usr_nope"),
    ("PATCH", "/admin/users/usr_nope"),
    ("DELETE", "/admin/users/usr_nope"),
    ("GET", "/admin/tokens"),
    ("POST", "/admin/tokens"),
    ("PATCH", "/admin/tokens/tok_nope"),
    ("DELETE", "/admin/tokens/tok_nope"),
]
PREFIXES = ("/v1", "")


@pytest.fixture(scope="module")
def user_key(admin: Admin) -> str:
    key = admin.create_token()["key"]
    assert isinstance(key, str) and key.startswith("sk-")
    return key


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=lambda v: str(v))
def test_every_route_wants_a_management_key(
    anon: httpx.Client, user_key: str, method: str, path: str
) -> None:
    body = b'{"name": "x"}' if method in ("POST", "PATCH") else None
    for prefix in PREFIXES:
        url = prefix + path
        cases: list[tuple[dict[str, str], int]] = [
            ({}, 401),
            ({"Authorization": "Bearer mgmt-not-a-real-key-0000"}, 401),
            ({"Authorization": "Bearer sk-not-a-real-key-0000"}, 401),
            ({"Authorization": f"Bearer {user_key}"}, 403),
        ]
        for headers, status in cases:
            response = anon.request(method, url, content=body, headers=headers)
            expect_error(response, status)


def test_management_key_is_accepted_with_and_without_v1(admin: Admin) -> None:
    for path in ("/v1/admin/users", "/admin/users"):
        body = ok(admin.http.get(path))
        assert {"users", "total", "page", "limit"} <= set(body)
    for path in ("/v1/admin/settings", "/admin/settings"):
        assert "system_name" in ok(admin.http.get(path))


def test_each_response_has_its_own_request_id(admin: Admin) -> None:
    first = admin.http.get("/v1/admin/settings")
    second = admin.http.get("/v1/admin/settings")
    ids = {first.headers.get("x-request-id"), second.headers.get("x-request-id")}
    assert None not in ids and len(ids) == 2


def test_unknown_admin_route_and_wrong_method(admin: Admin) -> None:
    expect_error(admin.http.get("/v1/admin/no-such-thing"), 404)
    expect_error(admin.http.put("/v1/admin/settings", json={}), 405)
    expect_error(admin.http.get("/v1/admin/channels/ch_x/test"), 405)


# -- settings


@pytest.fixture
def settings_restored(admin: Admin) -> Iterator[dict[str, Any]]:
    before = ok(admin.http.get("/v1/admin/settings"))
    yield before
    restore = {k: before[k] for k in ("system_name", "features", "rate_limits")}
    ok(admin.http.patch("/v1/admin/settings", json=restore))


def test_settings_shape(admin: Admin) -> None:
    body = ok(admin.http.get("/v1/admin/settings"))
    assert isinstance(body["system_name"], str) and body["system_name"]
    assert isinstance(body["version"], str) and body["version"]
    features = body["features"]
    assert isinstance(features["registration_enabled"], bool)
    assert isinstance(features["maintenance_mode"], bool)
    assert features["default_currency"] == "USD"
    limits = body["rate_limits"]
    for name in ("requests_per_minute", "tokens_per_minute", "requests_per_day", "max_concurrency"):
        assert isinstance(limits[name], int) and not isinstance(limits[name], bool)
        assert limits[name] >= 0  # 0: no limit
    assert isinstance(limits["groups"], dict) and isinstance(limits["models"], dict)


def test_settings_patch_merges(admin: Admin, settings_restored: dict[str, Any]) -> None:
    before = settings_restored
    flipped = not before["features"]["maintenance_mode"]
    body = ok(
        admin.http.patch("/v1/admin/settings", json={"features": {"maintenance_mode": flipped}})
    )
    assert body["features"] == {**before["features"], "maintenance_mode": flipped}
    assert body["rate_limits"] == before["rate_limits"]
    assert body["system_name"] == before["system_name"]
    assert body["version"] == before["version"]

    patch = {"system_name": "Relay Test", "rate_limits": {"requests_per_minute": 123}}
    body = ok(admin.http.patch("/admin/settings", json=patch))
    assert body["system_name"] == "Relay Test"
    assert body["rate_limits"] == {**before["rate_limits"], "requests_per_minute": 123}
    assert body["features"]["maintenance_mode"] is flipped

    again = ok(admin.http.get("/v1/admin/settings"))
    assert again == body


@pytest.mark.parametrize(
    "patch",
    [
        {"system_name": 5},
        {"system_name": ""},
        {"features": True},
        {"features": {"maintenance_mode": "yes"}},
        {"features": {"registration_enabled": 1}},
        {"features": {"default_currency": 840}},
        {"rate_limits": {"requests_per_minute": "60"}},
        {"rate_limits": {"requests_per_minute": 1.5}},
        {"rate_limits": {"tokens_per_minute": True}},
        {"rate_limits": {"requests_per_minute": -1}},
        {"rate_limits": None},
        ["system_name", "x"],
        # unknown fields
        {"colour": "blue"},
        {"features": {"dark_mode": True}},
        {"rate_limits": {"requests_per_hour": 10}},
        {"rate_limits": {"groups": {"free": {"requests_per_hour": 10}}}},
        {"rate_limits": {"groups": {"free": {"requests_per_minute": -1}}}},
        {"rate_limits": {"groups": {"free": {"requests_per_minute": 2**31}}}},
        {"rate_limits": {"groups": {"free": 10}}},
        {"rate_limits": {"models": []}},
        {"rate_limits": {"max_concurrency": True}},
        # stored, but not something the gateway can do: refused, never silently ignored
        {"features": {"default_currency": "EUR"}},
        # a good field beside a bad one: nothing is applied
        {"system_name": "half-applied", "colour": "blue"},
    ],
    ids=repr,
)
def test_settings_patch_rejects_bad_input(admin: Admin, patch: object) -> None:
    before = ok(admin.http.get("/v1/admin/settings"))
    expect_error(admin.http.patch("/v1/admin/settings", json=patch), 400)
    assert ok(admin.http.get("/v1/admin/settings")) == before


def test_settings_patch_malformed_json(admin: Admin) -> None:
    response = admin.http.patch(
        "/v1/admin/settings",
        content=b'{"system_name": ',
        headers={"content-type": "application/json"},
    )
    expect_error(response, 400)


def test_settings_version_is_read_only(admin: Admin) -> None:
    before = ok(admin.http.get("/v1/admin/settings"))
    response = admin.http.patch("/v1/admin/settings", json={"version": "99.0.0"})
    assert response.status_code in (200, 400), response.text
    assert ok(admin.http.get("/v1/admin/settings"))["version"] == before["version"]
