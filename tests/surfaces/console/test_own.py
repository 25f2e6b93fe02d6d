"""A signed-in user's own things: keys (the secret once), calls made with them showing in
the usage rows, redeeming a code; another user's key or rows are out of reach by URL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.console import Console, new_email
from surfaces.admin_kit import UPSTREAM_KEY, chat, eventually, expect_error, ok

Browser = Callable[[], Console]


def _signed_up(browser: Browser) -> Console:
    console = browser()
    assert console.sign_up(new_email()).status_code == 201
    return console


def test_a_key_made_in_the_console_calls_the_gateway_and_its_usage_shows(
    gateway_url: str, admin: Admin, upstream: FakeOpenAI, browser: Browser
) -> None:
    model = unique_model("console")
    admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[UPSTREAM_KEY], models=[model]
    )
    console = _signed_up(browser)
    user_id = ok(console.call("GET", "/me"))["user"]["id"]
    ok(admin.http.post("/v1/admin/topup", json={"user_id": user_id, "amount": 5}))
    created = ok(
        console.call(
            "POST",
            "/keys",
            {"name": "laptop", "models": [model], "rpm": 30, "user_id": "usr_someone_else"},
        ),
        201,
    )
    assert created["key"].startswith("sk-") and created["user_id"] == user_id
    assert created["models"] == [model] and created["rpm"] == 30
    response = chat(gateway_url, created["key"], model)
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]

    def row_shown() -> bool:
        rows = ok(console.call("GET", "/usage"))["usage"]
        return any(r["request_id"] == request_id for r in rows)

    assert eventually(row_shown)
    # What a call cost upstream is the operator's: not in the user's rows nor totals.
    assert all("upstream_cost" not in r for r in ok(console.call("GET", "/usage"))["usage"])
    me = ok(console.call("GET", "/me"))["user"]
    assert me["total_usage"] > 0 and me["balance"] < 5
    summary = ok(console.call("GET", "/usage/summary"))
    assert summary["totals"]["requests"] >= 1
    assert "by_user" not in summary and "by_channel" not in summary  # the operator's only
    for entry in (summary["totals"], *summary["by_model"], *summary["by_day"]):
        assert not {"upstream_cost", "margin", "cost_known_requests"} & set(entry)
    revoked = ok(console.call("DELETE", f"/keys/{created['id']}"))
    assert revoked["status"] == "revoked"

    def refused() -> bool:
        return chat(gateway_url, created["key"], model).status_code == 401

    assert eventually(refused)


def test_another_users_key_and_usage_are_out_of_reach(admin: Admin, browser: Browser) -> None:
    owner, other = _signed_up(browser), _signed_up(browser)
    key = ok(owner.call("POST", "/keys", {"name": "mine"}), 201)
    foreign = admin.create_token(admin.create_user()["id"])
    for token_id in (key["id"], foreign["id"]):
        expect_error(other.call("PATCH", f"/keys/{token_id}", {"name": "stolen"}), 404)
        expect_error(other.call("DELETE", f"/keys/{token_id}"), 404)
    assert ok(other.call("GET", "/keys"))["total"] == 0
    assert ok(owner.call("GET", "/keys"))["total"] == 1
    rows = ok(other.call("GET", "/usage", params={"user_id": foreign["user_id"]}))
    assert rows["usage"] == []


def test_redeem_in_the_console(admin: Admin, browser: Browser) -> None:
    console = _signed_up(browser)
    batch = ok(admin.http.post("/v1/admin/redemptions", json={"amount": 4, "count": 1}), 201)
    code = batch["codes"][0]["code"]
    body = ok(console.call("POST", "/redeem", {"code": code}))
    assert body["amount"] == 4 and body["new_balance"] == 4
    assert ok(console.call("GET", "/me"))["user"]["balance"] == 4
    expect_error(console.call("POST", "/redeem", {"code": code}), 400)


def test_checkout_without_stripe_is_501(browser: Browser) -> None:
    console = _signed_up(browser)
    expect_error(console.call("POST", "/checkout", {"amount": 10}), 501)


def test_the_management_key_has_no_account_of_its_own(
    gateway_url: str, admin_key: str, browser: Browser
) -> None:
    operator = browser()
    ok(operator.operator(admin_key))
    expect_error(operator.call("GET", "/keys"), 403)
    expect_error(httpx.get(f"{gateway_url}/console/api/keys"), 401)


def test_a_user_gives_an_own_key_a_daily_budget(browser: Browser) -> None:
    console = _signed_up(browser)
    created = ok(console.call("POST", "/keys", {"quota": 2, "quota_period": "daily"}), 201)
    assert created["quota"] == 2 and created["quota_period"] == "daily"
    assert created["quota_used"] == 0 and created["quota_resets_at"].endswith("T00:00:00Z")
    listed = ok(console.call("GET", "/keys"))["tokens"]
    assert [k["quota_period"] for k in listed if k["id"] == created["id"]] == ["daily"]
    refused = console.call("PATCH", f"/keys/{created['id']}", {"quota_period": "hourly"})
    assert refused.status_code == 400
    monthly = ok(console.call("PATCH", f"/keys/{created['id']}", {"quota_period": "monthly"}))
    assert monthly["quota_period"] == "monthly"
    assert monthly["quota_resets_at"][8:] == "01T00:00:00Z"
