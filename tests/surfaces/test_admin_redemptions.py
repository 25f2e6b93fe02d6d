"""``/v1/admin/redemptions``: a batch's codes are shown once, stored only as hashes, listed
with hints and paged, and disabled (not deleted) by DELETE."""

from __future__ import annotations

import hashlib

import httpx
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump


def test_a_batch_is_shown_once_and_stored_hashed(gateway: Gateway, admin: Admin) -> None:
    body = ok(
        admin.http.post(
            "/v1/admin/redemptions",
            json={"amount": 3, "count": 5, "name": "spring", "expires_at": "2099-01-01"},
        ),
        201,
    )
    assert body["count"] == 5 and body["amount"] == 3 and body["name"] == "spring"
    assert body["expires_at"] == "2099-01-01T00:00:00Z"
    codes = [item["code"] for item in body["codes"]]
    assert len(set(codes)) == 5 and all(c.startswith("rc-") and len(c) == 35 for c in codes)
    stored = table_dump(gateway.settings.database_url, "redemptions")
    for code in codes:
        assert code not in stored
        assert hashlib.sha256(code.encode()).hexdigest() in stored
    listed = ok(admin.http.get("/v1/admin/redemptions", params={"name": "spring", "limit": 2}))
    assert listed["total"] == 5 and len(listed["redemptions"]) == 2 and listed["limit"] == 2
    row = listed["redemptions"][0]
    assert set(row) == {
        "id",
        "name",
        "code_hint",
        "amount",
        "status",
        "expires_at",
        "created_at",
        "redeemed_by",
        "redeemed_at",
    }
    assert row["status"] == "active" and row["redeemed_by"] is None
    assert not any(code in str(listed) for code in codes)
    assert row["code_hint"].startswith("rc-") and "..." in row["code_hint"]


def test_delete_disables_and_a_redeemed_code_stays(gateway: Gateway, admin: Admin) -> None:
    body = ok(admin.http.post("/v1/admin/redemptions", json={"amount": 1, "count": 2}), 201)
    first, second = body["codes"]
    disabled = ok(admin.http.delete(f"/v1/admin/redemptions/{first['id']}"))
    assert disabled["status"] == "disabled"
    assert ok(admin.http.delete(f"/v1/admin/redemptions/{first['id']}"))["status"] == "disabled"
    user = admin.create_user(balance=0)
    key = admin.create_token(user["id"])["key"]
    redeemed = httpx.post(
        f"{gateway.url}/v1/redeem",
        headers={"Authorization": f"Bearer {key}"},
        json={"code": second["code"]},
    )
    assert redeemed.status_code == 200, redeemed.text
    expect_error(admin.http.delete(f"/v1/admin/redemptions/{second['id']}"), 409)
    listed = ok(admin.http.get("/v1/admin/redemptions", params={"status": "redeemed"}))
    row = next(r for r in listed["redemptions"] if r["id"] == second["id"])
    assert row["redeemed_by"] == user["id"] and row["redeemed_at"]
    expect_error(admin.http.delete("/v1/admin/redemptions/rdm_missing"), 404)


def test_bad_batches_are_400(admin: Admin) -> None:
    for bad in (
        {"count": 1},
        {"amount": 0},
        {"amount": -1},
        {"amount": "abc"},
        {"amount": 1, "count": 0},
        {"amount": 1, "count": 1001},
        {"amount": 1, "expires_at": "yesterday"},
        {"amount": 1, "expires_at": "2000-01-01"},
        {"amount": 1, "name": ""},
    ):
        expect_error(admin.http.post("/v1/admin/redemptions", json=bad), 400)
    expect_error(admin.http.get("/v1/admin/redemptions", params={"status": "spent"}), 400)


def test_redemptions_need_the_management_key(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user()
    key = admin.create_token(user["id"])["key"]
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {key}"}, 403)):
        expect_error(
            httpx.post(f"{gateway.url}/v1/admin/redemptions", json={"amount": 1}, headers=headers),
            status,
        )
