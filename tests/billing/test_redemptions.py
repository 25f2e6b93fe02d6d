"""Redemption codes as money: a code credits its amount once, with its ledger row, however
many redeem it at once; a refused code moves no money. Through ``POST /v1/redeem`` with user
keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from support.admin import Admin
from support.gateway import Gateway
from support.ledger import books
from surfaces.admin_kit import expect_error, ok

from airelay.money import usd_to_units


def issue(admin: Admin, **fields: Any) -> list[dict[str, Any]]:
    fields.setdefault("amount", 5)
    body = ok(admin.http.post("/v1/admin/redemptions", json=fields), 201)
    return list(body["codes"])


def redeem(gateway: Gateway, key: str, code: object) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/redeem",
        headers={"Authorization": f"Bearer {key}"},
        json={"code": code},
        timeout=30,
    )


def account(admin: Admin, balance: float = 0) -> tuple[str, str]:
    user = admin.create_user(balance=balance)
    return user["id"], admin.create_token(user["id"])["key"]


def test_a_used_code_is_refused_and_moves_no_money(gateway: Gateway, admin: Admin) -> None:
    (code,) = issue(admin, amount="2.5")
    first_user, first_key = account(admin)
    second_user, second_key = account(admin, balance=1)
    assert ok(redeem(gateway, first_key, code["code"]))["new_balance"] == 2.5
    message = expect_error(redeem(gateway, second_key, code["code"]), 400)
    assert "already been redeemed" in message
    expect_error(redeem(gateway, first_key, code["code"]), 400)
    database = gateway.settings.database_url
    assert books(database, first_user).credits == usd_to_units("2.5")
    assert books(database, second_user).credits == usd_to_units(1)


def test_unknown_disabled_and_expired_codes_move_no_money(gateway: Gateway, admin: Admin) -> None:
    user_id, key = account(admin)
    assert "not valid" in expect_error(redeem(gateway, key, "rc-" + "0" * 32), 400)
    (disabled,) = issue(admin)
    ok(admin.http.delete(f"/v1/admin/redemptions/{disabled['id']}"))
    assert "disabled" in expect_error(redeem(gateway, key, disabled["code"]), 400)
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    (expiring,) = issue(admin, expires_at=soon)
    deadline = datetime.fromisoformat(soon)
    while datetime.now(UTC) <= deadline + timedelta(seconds=1):
        pass
    assert "expired" in expect_error(redeem(gateway, key, expiring["code"]), 400)
    for bad in ("", "   ", 7, None, "x" * 500):
        expect_error(redeem(gateway, key, bad), 400)
    assert books(gateway.settings.database_url, user_id).credits == 0


def test_concurrent_redemptions_of_one_code_credit_once(gateway: Gateway, admin: Admin) -> None:
    (code,) = issue(admin, amount="0.0000000001")  # one unit: any double credit shows
    accounts = [account(admin) for _ in range(4)]
    keys = [key for _, key in accounts] * 3
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda key: redeem(gateway, key, code["code"]), keys))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 11
    database = gateway.settings.database_url
    credited = [user for user, _ in accounts if books(database, user).credits]
    assert len(credited) == 1
    assert books(database, credited[0]).credits == 1


def test_redeeming_credits_the_balance_with_a_ledger_row(gateway: Gateway, admin: Admin) -> None:
    codes = issue(admin, amount="1.25", count=3, name="launch")
    user_id, key = account(admin, balance=10)
    # Letter case and surrounding blanks of a typed code do not matter.
    body = ok(redeem(gateway, key, f"  {codes[0]['code'].upper()} \n"))
    assert body["success"] is True and body["amount"] == 1.25
    assert body["new_balance"] == 11.25 and body["transaction_id"].startswith("txn_")
    assert ok(redeem(gateway, key, codes[1]["code"]))["new_balance"] == 12.5
    balance = httpx.get(
        f"{gateway.url}/v1/balance", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert balance["balance"] == 12.5
    assert books(gateway.settings.database_url, user_id).credits == usd_to_units("12.5")


def test_redeem_needs_a_user_key(gateway: Gateway, admin: Admin) -> None:
    (code,) = issue(admin)
    expect_error(httpx.post(f"{gateway.url}/v1/redeem", json={"code": code["code"]}), 401)
    expect_error(redeem(gateway, "sk-not-a-key", code["code"]), 401)
    expect_error(redeem(gateway, gateway.admin_key, code["code"]), 401)
    listed = ok(admin.http.get("/v1/admin/redemptions", params={"name": "default"}))
    assert any(r["id"] == code["id"] and r["status"] == "active" for r in listed["redemptions"])
