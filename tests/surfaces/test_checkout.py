"""Stripe Checkout top-ups: ``POST /v1/billing/checkout`` opens a session on a fake Stripe API
through the official library; ``POST /v1/billing/webhook``, signed as Stripe signs, credits
the balance exactly once however often (and however concurrently) it is delivered."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.stripe_api import FakeStripe, event, signature_header
from sqlalchemy import func, select
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok

from airelay.store.db import create_engine
from airelay.store.tables import checkout_sessions, transactions

WEBHOOK_SECRET = "whsec_test_5f1c3b0a9e7d4c2b8a6f"
SUCCESS_URL = "https://console.example.com/billing/success?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://console.example.com/billing/cancel"


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_stripe(stripe_api: FakeStripe) -> None:
    stripe_api.reset()


@pytest.fixture(scope="module")
def billing_gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_api: FakeStripe
) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("billing")
    with Gateway(
        database_url,
        data_dir,
        stripe_api_key=stripe_api.api_key,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_api.base_url,
        checkout_success_url=SUCCESS_URL,
        checkout_cancel_url=CANCEL_URL,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def billing_admin(billing_gateway: Gateway) -> Iterator[Admin]:
    client = Admin(billing_gateway.url, billing_gateway.admin_key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def client(billing_gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing_gateway.url, timeout=30) as http:
        yield http


def new_user(admin: Admin) -> tuple[str, str]:
    """A user with a zero balance and a key: (user id, key)."""
    user = admin.create_user(balance=0)
    token = admin.create_token(user["id"])
    return user["id"], token["key"]


def balance(admin: Admin, user_id: str) -> float:
    return float(ok(admin.http.get(f"/v1/admin/users/{user_id}"))["balance"])


def open_checkout(client: httpx.Client, key: str, amount: Any = 10, **fields: Any) -> str:
    response = client.post(
        "/v1/billing/checkout",
        json={"amount": amount, **fields},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = ok(response)
    assert set(body) == {"url", "session_id"}
    return str(body["session_id"])


def deliver(
    client: httpx.Client, payload: dict[str, Any] | bytes, *, timestamp: int | None = None
) -> httpx.Response:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, indent=2).encode()
    header = signature_header(raw, WEBHOOK_SECRET, timestamp)
    return client.post(
        "/v1/billing/webhook",
        content=raw,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def stored(database_url: str, session_id: str) -> tuple[str | None, int]:
    """The session's status in the database and the number of ledger credits for it."""

    async def fetch() -> tuple[str | None, int]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                status = (
                    await conn.execute(
                        select(checkout_sessions.c.status).where(
                            checkout_sessions.c.id == session_id
                        )
                    )
                ).scalar()
                credits = (
                    await conn.execute(
                        select(func.count()).where(
                            transactions.c.reference == f"stripe:{session_id}"
                        )
                    )
                ).scalar_one()
        finally:
            await engine.dispose()
        return status, int(credits)

    return asyncio.run(fetch())


# -- opening a session


def test_checkout_opens_a_stripe_session(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    user_id, key = new_user(billing_admin)
    response = client.post(
        "/v1/billing/checkout",
        json={"amount": 12.34},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = ok(response)
    assert body["session_id"].startswith("cs_test_")
    assert body["url"].startswith("https://checkout.stripe.com/")
    assert body["session_id"] in body["url"]

    [sent] = stripe_api.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["authorization"] == f"Bearer {stripe_api.api_key}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers.get("idempotency-key")
    assert b"line_items[0][price_data][unit_amount]=1234" in sent.raw.replace(b"%5B", b"[").replace(
        b"%5D", b"]"
    )
    form = sent.form
    assert form["mode"] == "payment"
    [item] = form["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["currency"] == "usd"
    assert item["price_data"]["unit_amount"] == "1234"
    assert item["price_data"]["product_data"]["name"]
    assert form["client_reference_id"] == user_id
    assert form["metadata"] == {"user_id": user_id, "amount_units": str(1234 * 10**8)}
    assert form["success_url"] == SUCCESS_URL
    assert form["cancel_url"] == CANCEL_URL

    assert stored(database_url, body["session_id"]) == ("open", 0)
    assert balance(billing_admin, user_id) == 0


def test_checkout_without_v1_prefix_and_with_return_urls(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe
) -> None:
    _, key = new_user(billing_admin)
    response = client.post(
        "/billing/checkout",
        json={
            "amount": "25",
            "success_url": "https://app.example.org/paid",
            "cancel_url": "http://localhost:3000/cancelled",
        },
        headers={"x-api-key": key},
    )
    ok(response)
    [sent] = stripe_api.requests
    assert sent.form["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert sent.form["success_url"] == "https://app.example.org/paid"
    assert sent.form["cancel_url"] == "http://localhost:3000/cancelled"


def test_checkout_needs_a_user_key(client: httpx.Client, billing_admin: Admin) -> None:
    expect_error(client.post("/v1/billing/checkout", json={"amount": 10}), 401)
    expect_error(
        client.post(
            "/v1/billing/checkout",
            json={"amount": 10},
            headers={"Authorization": "Bearer sk-not-a-key"},
        ),
        401,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0.99},
        {"amount": 0},
        {"amount": -10},
        {"amount": 10000.01},
        {"amount": 1e9},
        {"amount": 10.001},
        {"amount": "ten"},
        {"amount": "NaN"},
        {"amount": None},
        {"amount": True},
        {"amount": [10]},
        {},
        {"amount": 10, "success_url": "javascript:alert(1)"},
        {"amount": 10, "cancel_url": 42},
        [10],
    ],
    ids=repr,
)
def test_bad_amounts_are_400(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, body: Any
) -> None:
    _, key = new_user(billing_admin)
    response = client.post(
        "/v1/billing/checkout", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    expect_error(response, 400)
    assert stripe_api.requests == []


def test_malformed_json_is_400(client: httpx.Client, billing_admin: Admin) -> None:
    _, key = new_user(billing_admin)
    response = client.post(
        "/v1/billing/checkout",
        content=b"{amount: 10",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    expect_error(response, 400)


def test_limits_are_accepted(client: httpx.Client, billing_admin: Admin) -> None:
    _, key = new_user(billing_admin)
    for amount in (1, 1.0, "1.00", 10000, 99.99):
        open_checkout(client, key, amount)


def test_stripe_error_is_502_without_the_key(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    _, key = new_user(billing_admin)
    stripe_api.fail_next(400, f"Invalid request: key {stripe_api.api_key} may not do this")
    response = client.post(
        "/v1/billing/checkout", json={"amount": 10}, headers={"Authorization": f"Bearer {key}"}
    )
    message = expect_error(response, 502)
    assert "Stripe" in message
    assert stripe_api.api_key not in response.text
    assert "sk_test" not in response.text


def test_unreachable_stripe_is_502(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with (
        FakeStripe() as gone,
        Gateway(
            database_url,
            tmp_path_factory.mktemp("gone"),
            stripe_api_key=gone.api_key,
            stripe_api_base=gone.base_url,
        ) as gateway,
    ):
        gone.stop()
        admin = Admin(gateway.url, gateway.admin_key)
        try:
            _, key = new_user(admin)
            response = httpx.post(
                f"{gateway.url}/v1/billing/checkout",
                json={"amount": 10},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
        finally:
            admin.close()
    message = expect_error(response, 502)
    assert "127.0.0.1" not in message and gone.api_key not in message


def test_not_configured_is_501(gateway: Gateway, admin: Admin) -> None:
    token = admin.create_token()
    response = httpx.post(
        f"{gateway.url}/v1/billing/checkout",
        json={"amount": 10},
        headers={"Authorization": f"Bearer {token['key']}"},
    )
    assert "not configured" in expect_error(response, 501)
    raw = json.dumps(event("checkout.session.completed", {"id": "cs_test_x"})).encode()
    response = httpx.post(
        f"{gateway.url}/v1/billing/webhook",
        content=raw,
        headers={"Stripe-Signature": signature_header(raw, WEBHOOK_SECRET)},
    )
    assert "not configured" in expect_error(response, 501)


# -- the webhook


def test_paid_session_credits_the_balance_once(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    assert balance(billing_admin, user_id) == 0

    paid = stripe_api.paid_event(session_id)
    response = deliver(client, paid)
    assert ok(response) == {"received": True}
    assert balance(billing_admin, user_id) == 10
    assert stored(database_url, session_id) == ("completed", 1)

    # Stripe retries the same event (re-signed each time): no second credit.
    for _ in range(3):
        assert ok(deliver(client, paid)) == {"received": True}
    assert balance(billing_admin, user_id) == 10
    assert stored(database_url, session_id) == ("completed", 1)


def test_same_event_three_times_credits_once(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 7.5)
    raw = json.dumps(stripe_api.paid_event(session_id)).encode()
    header = signature_header(raw, WEBHOOK_SECRET)
    for _ in range(3):
        response = client.post(
            "/v1/billing/webhook", content=raw, headers={"Stripe-Signature": header}
        )
        assert ok(response) == {"received": True}
    assert balance(billing_admin, user_id) == 7.5
    assert stored(database_url, session_id) == ("completed", 1)


def test_concurrent_deliveries_credit_once(
    billing_gateway: Gateway, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    with httpx.Client(base_url=billing_gateway.url, timeout=30) as http:
        user_id, key = new_user(billing_admin)
        session_id = open_checkout(http, key, 42)
    paid = stripe_api.paid_event(session_id)
    barrier = threading.Barrier(5)
    statuses: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=billing_gateway.url, timeout=30) as own:
            barrier.wait()
            response = deliver(own, paid)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 5
    assert balance(billing_admin, user_id) == 42
    assert stored(database_url, session_id) == ("completed", 1)


def test_delayed_payment_credits_when_it_succeeds(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 30)
    pending = stripe_api.paid_event(session_id, payment_status="unpaid")
    assert ok(deliver(client, pending)) == {"received": True}
    assert balance(billing_admin, user_id) == 0
    assert stored(database_url, session_id) == ("open", 0)

    succeeded = stripe_api.paid_event(session_id, "checkout.session.async_payment_succeeded")
    assert ok(deliver(client, succeeded)) == {"received": True}
    assert balance(billing_admin, user_id) == 30
    assert ok(deliver(client, stripe_api.paid_event(session_id))) == {"received": True}
    assert balance(billing_admin, user_id) == 30
    assert stored(database_url, session_id) == ("completed", 1)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        "t={t},v1=" + "0" * 64,
        "t={t},v0={good}",
        "t={t},v1={wrong_secret}",
    ],
)
def test_bad_signature_is_400_and_credits_nothing(
    client: httpx.Client,
    billing_admin: Admin,
    stripe_api: FakeStripe,
    database_url: str,
    signature: str | None,
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    raw = json.dumps(stripe_api.paid_event(session_id)).encode()
    t = int(time.time())
    good = signature_header(raw, WEBHOOK_SECRET, t).split("v1=")[1]
    wrong = signature_header(raw, "whsec_other", t).split("v1=")[1]
    headers = {}
    if signature is not None:
        headers["Stripe-Signature"] = signature.format(t=t, good=good, wrong_secret=wrong)
    response = client.post("/v1/billing/webhook", content=raw, headers=headers)
    expect_error(response, 400)
    assert balance(billing_admin, user_id) == 0
    assert stored(database_url, session_id) == ("open", 0)


def test_tampered_body_is_400(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    raw = json.dumps(stripe_api.paid_event(session_id)).encode()
    header = signature_header(raw, WEBHOOK_SECRET)
    response = client.post(
        "/v1/billing/webhook",
        content=raw.replace(b'"paid"', b'"paid" '),
        headers={"Stripe-Signature": header},
    )
    expect_error(response, 400)
    assert balance(billing_admin, user_id) == 0


def test_old_timestamp_is_400(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    paid = stripe_api.paid_event(session_id)
    response = deliver(client, paid, timestamp=int(time.time()) - 301 - 5)
    assert "tolerance" in expect_error(response, 400)
    assert balance(billing_admin, user_id) == 0
    assert ok(deliver(client, paid, timestamp=int(time.time()) - 60)) == {"received": True}
    assert balance(billing_admin, user_id) == 10


def test_signed_garbage_is_400(client: httpx.Client) -> None:
    for raw in (b"not json", b"\xff\xfe", b"[1, 2]", b'{"object": "event"}'):
        expect_error(deliver(client, raw), 400)


def test_unknown_session_is_acknowledged_and_credits_nothing(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    stranger = stripe_api.paid_event(session_id, id="cs_test_never_opened_here")
    assert ok(deliver(client, stranger)) == {"received": True}
    assert balance(billing_admin, user_id) == 0


def test_amount_mismatch_is_not_credited(
    client: httpx.Client, billing_admin: Admin, stripe_api: FakeStripe, database_url: str
) -> None:
    user_id, key = new_user(billing_admin)
    session_id = open_checkout(client, key, 10)
    for changes in ({"amount_total": 100000}, {"currency": "eur"}, {"amount_total": None}):
        assert ok(deliver(client, stripe_api.paid_event(session_id, **changes))) == {
            "received": True
        }
    assert balance(billing_admin, user_id) == 0
    assert stored(database_url, session_id) == ("open", 0)


def test_other_events_are_acknowledged(client: httpx.Client) -> None:
    for type_ in ("payment_intent.succeeded", "checkout.session.expired", "charge.refunded"):
        obj = {"id": "pi_3Test", "object": "payment_intent", "amount": 1000}
        assert ok(deliver(client, event(type_, obj))) == {"received": True}
