"""The console's Stripe top-up, on a gateway with Stripe set up (a fake Stripe API on
loopback, spoken to by the official library): ``POST /console/api/checkout`` opens a session
for the signed-in user and answers its URL; the signed webhook credits that user once however
often it comes; in a real browser the top-up page's amount form sends the user to the
session's URL, and back on the dashboard the balance shows the payment.

Skipped (the browser part) where chromium or the built console is missing, except under
CI=true.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.stripe_api import FakeStripe, signature_header
from support.console import Console, new_email
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok
from surfaces.console.browser_kit import shoot, sign_up

Browser = Callable[[], Console]
WEBHOOK_SECRET = "whsec_console_7d2e91c0b4a64f3e"
STRIPE_PAGE = "https://checkout.stripe.com/"


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_api: FakeStripe
) -> Iterator[Gateway]:
    """This module's gateway (every console fixture uses it): Stripe set up, no return URLs
    of its own, so the console's are the ones Stripe sends the user back to."""
    with Gateway(
        database_url,
        tmp_path_factory.mktemp("stripe"),
        stripe_api_key=stripe_api.api_key,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_api.base_url,
    ) as running:
        yield running


def _deliver(gateway: Gateway, payload: dict[str, Any]) -> httpx.Response:
    raw = json.dumps(payload).encode()
    return httpx.post(
        f"{gateway.url}/v1/billing/webhook",
        content=raw,
        headers={
            "Stripe-Signature": signature_header(raw, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


def _balance(console: Console) -> float:
    return float(ok(console.call("GET", "/me"))["user"]["balance"])


def test_the_console_checkout_answers_the_session_url_and_the_webhook_credits_once(
    gateway: Gateway, browser: Browser, stripe_api: FakeStripe
) -> None:
    console = browser()
    user_id = ok(console.sign_up(new_email()), 201)["user"]["id"]
    assert ok(console.call("GET", "/config"))["stripe"] is True
    back = f"{gateway.url}/console/#/dashboard"
    body = ok(
        console.call(
            "POST",
            "/checkout",
            {"amount": "12.50", "success_url": back, "cancel_url": f"{gateway.url}/console/"},
        )
    )
    assert set(body) == {"url", "session_id"}
    assert body["url"].startswith(STRIPE_PAGE) and body["session_id"] in body["url"]
    session = stripe_api.sessions[body["session_id"]]
    assert session["amount_total"] == 1250 and session["currency"] == "usd"
    assert session["client_reference_id"] == user_id
    assert session["success_url"] == back

    # The session is the signed-in user's: the webhook credits them, once.
    paid = stripe_api.paid_event(body["session_id"])
    for _ in range(3):
        assert ok(_deliver(gateway, paid)) == {"received": True}
    assert _balance(console) == 12.5
    again = stripe_api.paid_event(body["session_id"])  # another event for the same session
    assert ok(_deliver(gateway, again)) == {"received": True}
    assert _balance(console) == 12.5

    # Refused, and no session opened: a bad amount, a write without the CSRF token, the
    # management key's session.
    opened = len(stripe_api.sessions)
    expect_error(console.call("POST", "/checkout", {"amount": "-3"}), 400)
    token, console.csrf = console.csrf, ""
    expect_error(console.call("POST", "/checkout", {"amount": "5"}), 403)
    console.csrf = token
    operator = browser()
    ok(operator.operator(gateway.admin_key))
    refused = expect_error(operator.call("POST", "/checkout", {"amount": "5"}), 403)
    assert "no account of its own" in refused
    assert len(stripe_api.sessions) == opened


def test_the_top_up_form_sends_the_user_to_stripe_and_the_payment_shows(
    chromium: Any,
    gateway: Gateway,
    registration: None,
    stripe_api: FakeStripe,
    artifacts: Path,
) -> None:
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    # Stripe's page, stood in for: the browser never leaves the machine.
    page.route(
        f"{STRIPE_PAGE}**",
        lambda route: route.fulfill(content_type="text/html", body="<title>Checkout</title>"),
    )
    sign_up(page, gateway.url)
    page.wait_for_selector("#balance:text-is('$0.0000')")
    page.click("#nav-topup")
    assert page.query_selector("#topup-instructions") is None  # Stripe, not instructions
    shoot(page, artifacts, "topup-stripe")
    before = set(stripe_api.sessions)
    page.fill("#checkout-form input[name=amount]", "7.5")
    page.click("#checkout-form button[type=submit]")
    page.wait_for_url(f"{STRIPE_PAGE}**")
    (session_id,) = set(stripe_api.sessions) - before
    session = stripe_api.sessions[session_id]
    assert page.url == session["url"]
    assert session["amount_total"] == 750
    assert session["success_url"] == f"{gateway.url}/console/#/dashboard"
    assert session["cancel_url"] == f"{gateway.url}/console/#/topup"

    # Paid: Stripe calls the webhook and sends the user back to the dashboard.
    assert ok(_deliver(gateway, stripe_api.paid_event(session_id))) == {"received": True}
    page.goto(session["success_url"])
    page.wait_for_selector("#balance:text-is('$7.5000')")
    context.close()
