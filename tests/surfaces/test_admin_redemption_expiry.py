"""Redemption codes expire: once the time a batch was given has passed, its codes are
refused with the reason, credit nothing and stay unredeemed; a code of a later expiry still
credits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_expired_code_is_refused_and_credits_nothing(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user(balance=0)
    key = admin.create_token(user["id"])["key"]
    soon = int(time.time()) + 2
    short = ok(
        admin.http.post(
            "/v1/admin/redemptions",
            json={"amount": 5, "count": 1, "name": "short-lived", "expires_at": stamp(soon)},
        ),
        201,
    )
    assert short["expires_at"] == stamp(soon)
    later = ok(
        admin.http.post(
            "/v1/admin/redemptions",
            json={"amount": 1, "count": 1, "name": "later", "expires_at": "2099-01-01"},
        ),
        201,
    )
    while time.time() <= soon + 1:  # wait for the expiry to pass (no timing is asserted)
        time.sleep(0.2)

    def redeem(code: str) -> httpx.Response:
        return httpx.post(
            f"{gateway.url}/v1/redeem",
            json={"code": code},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    message = expect_error(redeem(short["codes"][0]["code"]), 400)
    assert "expired" in message
    row = ok(admin.http.get(f"/v1/admin/users/{user['id']}"))
    assert row["balance"] == 0
    listed = ok(admin.http.get("/v1/admin/redemptions", params={"name": "short-lived"}))
    expired = next(r for r in listed["redemptions"] if r["id"] == short["codes"][0]["id"])
    assert expired["status"] == "active" and expired["redeemed_by"] is None
    assert expired["expires_at"] == stamp(soon)

    assert ok(redeem(later["codes"][0]["code"]))["new_balance"] == 1
