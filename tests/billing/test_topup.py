"""Top-ups: credited exactly once per Idempotency-Key, recorded in the ledger."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from support.admin import Admin
from support.gateway import Gateway
from support.ledger import books

from airelay.money import usd_to_units


def topup(admin: Admin, user_id: str, amount: object, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return admin.http.post(
        "/v1/admin/topup", json={"user_id": user_id, "amount": amount}, headers=headers
    )


def test_topup_shape_and_balance(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user(balance=25.5)
    response = topup(admin, user["id"], 50.00)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["user_id"] == user["id"]
    assert body["amount"] == 50.0 and body["new_balance"] == 75.5
    assert body["transaction_id"].startswith("txn_") and body["timestamp"].endswith("Z")
    assert admin.http.get(f"/v1/admin/users/{user['id']}").json()["balance"] == 75.5
    assert books(gateway.settings.database_url, user["id"]).credits == usd_to_units(75.5)


def test_retried_topup_credits_once(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user(balance=0)
    key = uuid.uuid4().hex
    first = topup(admin, user["id"], 10, key).json()
    again = topup(admin, user["id"], 10, key)
    assert again.status_code == 200
    assert again.json()["transaction_id"] == first["transaction_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert books(gateway.settings.database_url, user["id"]).credits == usd_to_units(10)


def test_concurrent_retries_credit_once(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user(balance=0)
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: topup(admin, user["id"], 3.25, key), range(8)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert books(gateway.settings.database_url, user["id"]).credits == usd_to_units(3.25)


def test_same_key_other_topup_is_409(admin: Admin) -> None:
    user = admin.create_user(balance=0)
    key = uuid.uuid4().hex
    assert topup(admin, user["id"], 1, key).status_code == 200
    assert topup(admin, user["id"], 2, key).status_code == 409


def test_bad_topups(admin: Admin) -> None:
    user = admin.create_user(balance=0)
    for amount in (0, -5, "ten", 1e-11, None):
        response = topup(admin, user["id"], amount)
        assert response.status_code == 400, (amount, response.text)
        assert response.json()["error"]["code"] == 400
    assert topup(admin, "usr_missing", 5).status_code == 404
    user_key = admin.create_token(user["id"])["key"]
    forbidden = httpx.post(
        admin.http.base_url.join("/v1/admin/topup"),
        json={"user_id": user["id"], "amount": 5},
        headers={"Authorization": f"Bearer {user_key}"},
    )
    assert forbidden.status_code == 403
