"""E-mail verification at sign-up (``features.email_verification``), against a real SMTP
server on loopback: the operator may turn it on only where mail can be sent; then a new
account cannot sign in until it opens the one-time, expiring link mailed to it; a new link
can be asked for, so often and no more; the address reveals nothing about its account."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import PUBLIC_URL, Console, link_token, mail_text, new_email
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump


def _verification(admin_http: httpx.Client, enabled: bool) -> None:
    response = admin_http.patch(
        "/v1/admin/settings", json={"features": {"email_verification": enabled}}
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def verifying(mail_gateway: Gateway) -> Iterator[Gateway]:
    admin = Admin(mail_gateway.url, mail_gateway.admin_key)
    _verification(admin.http, True)
    yield mail_gateway
    admin.close()


def _mails_to(smtp: SmtpSink, email: str) -> int:
    return sum(1 for message in smtp.messages if message["To"] == email)


def test_only_where_mail_can_be_sent(gateway: Gateway, admin: Admin) -> None:
    """The module's plain gateway has no SMTP server: the setting is refused, not stored."""
    message = expect_error(
        admin.http.patch("/v1/admin/settings", json={"features": {"email_verification": True}}),
        400,
    )
    assert "SMTP" in message
    assert ok(admin.http.get("/v1/admin/settings"))["features"]["email_verification"] is False
    _verification(admin.http, False)
    expect_error(
        admin.http.patch("/v1/admin/settings", json={"features": {"email_verification": "yes"}}),
        400,
    )
    assert ok(Console(gateway.url).call("GET", "/config"))["email_verification"] is False
    resend = Console(gateway.url).call("POST", "/verify-email/resend", {"email": new_email()})
    expect_error(resend, 501)


def test_a_new_account_signs_in_once_its_link_is_opened(verifying: Gateway, smtp: SmtpSink) -> None:
    email = new_email()
    console = Console(verifying.url)
    assert ok(console.call("GET", "/config"))["email_verification"] is True
    body = ok(console.sign_up(email.upper()), 201)
    assert body == {"verification_required": True, "email": email}
    assert "airelay_session" not in console.http.cookies  # no session before the link
    expect_error(console.call("GET", "/me"), 401)
    expect_error(Console(verifying.url).sign_in(email, "wrong password"), 401)
    refused = Console(verifying.url).sign_in(email)
    expect_error(refused, 403)
    assert refused.json()["error"]["type"] == "email_unverified"
    mail = smtp.wait_for(email)
    assert mail["From"] == "relay@example.com"
    assert "verify" in mail["Subject"].lower()
    token = link_token(mail, "verify")
    assert len(token) >= 40  # 256 random bits
    assert token not in table_dump(verifying.settings.database_url, "email_verifications")
    expect_error(console.call("POST", "/verify-email", {"token": "made-up"}), 400)
    assert ok(console.call("POST", "/verify-email", {"token": token})) == {"verified": True}
    expect_error(console.call("POST", "/verify-email", {"token": token}), 400)  # once
    signed_in = ok(Console(verifying.url).sign_in(email))
    assert signed_in["user"]["email"] == email


def test_a_new_link_on_request_throttled_and_the_same_for_anyone(
    verifying: Gateway, smtp: SmtpSink
) -> None:
    email = new_email()
    console = Console(verifying.url)
    ok(console.sign_up(email), 201)
    first = link_token(smtp.wait_for(email), "verify")
    for _ in range(5):
        answer = console.call("POST", "/verify-email/resend", {"email": email})
        assert ok(answer, 202) == {"sent": True}
    expect_error(console.call("POST", "/verify-email/resend", {"email": email}), 429)
    deadline = time.monotonic() + 10
    while _mails_to(smtp, email) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    mails = [message for message in smtp.messages if message["To"] == email]
    assert len(mails) == 6
    latest = link_token(mails[-1], "verify")
    assert latest != first
    ok(console.call("POST", "/verify-email", {"token": latest}))
    # The account is verified: its other links are spent, and a new one is not sent.
    expect_error(console.call("POST", "/verify-email", {"token": first}), 400)
    ok(Console(verifying.url).sign_in(email))
    # A verified account and an unknown address: the same answer, and no mail.
    verified = new_email()
    other = Console(verifying.url)
    ok(other.sign_up(verified), 201)
    ok(
        other.call(
            "POST", "/verify-email", {"token": link_token(smtp.wait_for(verified), "verify")}
        )
    )
    ok(other.call("POST", "/verify-email/resend", {"email": verified}), 202)
    unknown = new_email()
    ok(other.call("POST", "/verify-email/resend", {"email": unknown}), 202)
    time.sleep(0.5)
    assert _mails_to(smtp, verified) == 1 and _mails_to(smtp, unknown) == 0


def test_a_reset_link_also_proves_the_address(verifying: Gateway, smtp: SmtpSink) -> None:
    """Whoever opens a reset link mailed to the address owns it: the account is verified."""
    email = new_email()
    ok(Console(verifying.url).sign_up(email), 201)
    smtp.wait_for(email)
    console = Console(verifying.url)
    ok(console.call("POST", "/password-reset", {"email": email}), 202)
    deadline = time.monotonic() + 10
    while _mails_to(smtp, email) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    reset = next(m for m in smtp.messages if m["To"] == email and "#reset=" in mail_text(m))
    change = {"token": link_token(reset, "reset"), "new_password": "brand new passphrase"}
    ok(console.call("POST", "/password-reset/confirm", change))
    ok(Console(verifying.url).sign_in(email, "brand new passphrase"))


def test_accounts_before_it_and_after_it_is_off(verifying: Gateway, smtp: SmtpSink) -> None:
    """Turning it off lets unverified accounts sign in; accounts made while it was off
    were never asked (they sign in when it is on again)."""
    admin = Admin(verifying.url, verifying.admin_key)
    pending = new_email()
    ok(Console(verifying.url).sign_up(pending), 201)
    _verification(admin.http, False)
    try:
        earlier = new_email()
        assert "csrf_token" in ok(Console(verifying.url).sign_up(earlier), 201)
        ok(Console(verifying.url).sign_in(pending))
    finally:
        _verification(admin.http, True)
    ok(Console(verifying.url).sign_in(earlier))
    expect_error(Console(verifying.url).sign_in(pending), 403)
    admin.close()
    assert PUBLIC_URL in mail_text(smtp.wait_for(pending))


def test_on_but_the_mail_server_gone(
    verifying: Gateway, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Stored on, then the gateway restarts without SMTP: sign-up is refused before any
    account is made (it could never verify), and the resend says it cannot send."""
    email = new_email()
    with Gateway(database_url, tmp_path_factory.mktemp("no-mail")) as bare:
        console = Console(bare.url)
        assert ok(console.call("GET", "/config"))["email_verification"] is True
        assert "mail" in expect_error(console.sign_up(email), 503)
        expect_error(console.call("POST", "/verify-email/resend", {"email": email}), 501)
    assert ok(Console(verifying.url).sign_up(email), 201)["verification_required"] is True
