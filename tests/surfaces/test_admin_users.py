"""Management API: users. Money in USD, a paged list, status changes that reach the keys at
once, unique emails, and delete that keeps the record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import Route, chat, expect_error, ok


def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def test_create_and_get(admin: Admin) -> None:
    address = email()
    response = admin.http.post("/v1/admin/users", json={"email": address, "balance": 25.50})
    user = ok(response, 201)
    assert user["email"] == address
    assert user["balance"] == 25.5
    assert user["total_usage"] == 0
    assert user["status"] == "active"
    assert isinstance(user["id"], str) and user["id"]
    created = datetime.fromisoformat(user["created_at"])
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)

    for prefix in ("/v1", ""):
        fetched = ok(admin.http.get(f"{prefix}/admin/users/{user['id']}"))
        for field in ("id", "email", "status", "balance", "total_usage", "created_at"):
            assert fetched[field] == user[field]
    expect_error(admin.http.get("/v1/admin/users/usr_does_not_exist"), 404)


@pytest.mark.parametrize("balance", [0, 0.000000001, 0.075, 1234567.891], ids=repr)
def test_balance_is_exact(admin: Admin, balance: float) -> None:
    user = admin.create_user(balance=balance)
    assert user["balance"] == float(balance)


def page_through(admin: Admin, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    page, total = 1, -1
    while True:
        body = ok(admin.http.get("/v1/admin/users", params={"page": page, "limit": limit}))
        assert (body["page"], body["limit"]) == (page, limit)
        assert len(body["users"]) <= limit
        if total == -1:
            total = body["total"]
        assert body["total"] == total
        if not body["users"]:
            return seen, total
        seen.extend(user["id"] for user in body["users"])
        page += 1
        assert page < 1000


def test_list_is_paged(admin: Admin) -> None:
    mine = [admin.create_user(email=email())["id"] for _ in range(5)]
    seen, total = page_through(admin, 2)
    assert len(seen) == len(set(seen)) == total
    for user_id in mine:
        assert seen.count(user_id) == 1
    assert total >= 5

    first = ok(admin.http.get("/v1/admin/users"))
    assert first["page"] == 1 and isinstance(first["limit"], int) and first["total"] == total
    beyond = ok(admin.http.get("/v1/admin/users", params={"page": total + 1, "limit": 1}))
    assert beyond["users"] == [] and beyond["total"] == total
    assert ok(admin.http.get("/admin/users", params={"limit": 200}))["limit"] == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 201},
        {"limit": 0},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": 2.5},
        {"page": "x"},
        {"page": 0},
        {"page": -3},
    ],
    ids=repr,
)
def test_list_rejects_bad_paging(admin: Admin, params: dict[str, Any]) -> None:
    expect_error(admin.http.get("/v1/admin/users", params=params), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": 42},
        {"balance": -1},
        {"balance": 1e-12},
        {"balance": "lots"},
        {"balance": True},
        {"balance": None},
    ],
    ids=repr,
)
def test_create_rejects_bad_fields(admin: Admin, body: dict[str, Any]) -> None:
    expect_error(admin.http.post("/v1/admin/users", json=body), 400)


def test_malformed_json(admin: Admin) -> None:
    response = admin.http.post(
        "/v1/admin/users", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    expect_error(response, 400)


def test_duplicate_email_conflicts(admin: Admin) -> None:
    address = email()
    admin.create_user(email=address)
    expect_error(admin.http.post("/v1/admin/users", json={"email": address}), 409)
    other = admin.create_user(email=email())
    expect_error(admin.http.patch(f"/v1/admin/users/{other['id']}", json={"email": address}), 409)
    assert ok(admin.http.get(f"/v1/admin/users/{other['id']}"))["email"] == other["email"]


def test_disabling_a_user_stops_their_keys(admin: Admin, gateway: Gateway, route: Route) -> None:
    url = f"/v1/admin/users/{route.user['id']}"
    assert chat(gateway.url, route.key, route.model).status_code == 200
    assert ok(admin.http.patch(url, json={"status": "disabled"}))["status"] == "disabled"
    assert ok(admin.http.get(url))["status"] == "disabled"
    expect_error(chat(gateway.url, route.key, route.model), 401)
    ok(admin.http.patch(url, json={"status": "active"}))
    assert chat(gateway.url, route.key, route.model).status_code == 200


def test_patch_rejects_bad_fields(admin: Admin) -> None:
    user = admin.create_user()
    url = f"/v1/admin/users/{user['id']}"
    expect_error(admin.http.patch(url, json={"status": "frozen"}), 400)
    expect_error(admin.http.patch(url, json={"status": 1}), 400)
    expect_error(admin.http.patch(url, json={"email": "nope"}), 400)
    assert ok(admin.http.get(url))["status"] == "active"
    expect_error(admin.http.patch("/v1/admin/users/usr_nope", json={"status": "active"}), 404)


def test_delete_keeps_the_record_and_stops_the_keys(
    admin: Admin, gateway: Gateway, route: Route
) -> None:
    url = f"/v1/admin/users/{route.user['id']}"
    assert chat(gateway.url, route.key, route.model).status_code == 200
    assert ok(admin.http.delete(url))["status"] == "deleted"
    assert ok(admin.http.get(url))["status"] == "deleted"
    expect_error(chat(gateway.url, route.key, route.model), 401)
    expect_error(admin.http.delete("/v1/admin/users/usr_does_not_exist"), 404)
