"""Password reset by e-mail, against a real SMTP server on loopback: the link arrives built
from the public URL, sets a new password once, and ends the user's sessions; an address
without an account gets the same answer and no mail."""

from __future__ import annotations

import time

import httpx
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import Console, link_token, new_email
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump


def test_a_reset_link_sets_a_new_password_once(mail_gateway: Gateway, smtp: SmtpSink) -> None:
    email = new_email()
    signed_in = Console(mail_gateway.url)
    assert signed_in.sign_up(email).status_code == 201
    asking = Console(mail_gateway.url)
    assert ok(asking.call("GET", "/config"))["password_reset"] is True
    response = asking.call("POST", "/password-reset", {"email": email})
    assert ok(response, 202) == {"sent": True}
    mail = smtp.wait_for(email)
    assert mail["From"] == "relay@example.com"
    token = link_token(mail, "reset")
    assert token not in table_dump(mail_gateway.settings.database_url, "password_resets")
    expect_error(
        asking.call("POST", "/password-reset/confirm", {"token": token, "new_password": "x"}), 400
    )
    change = {"token": token, "new_password": "brand new passphrase"}
    ok(asking.call("POST", "/password-reset/confirm", change))
    expect_error(asking.call("POST", "/password-reset/confirm", change), 400)
    expect_error(signed_in.call("GET", "/me"), 401)  # every old session is over
    expect_error(Console(mail_gateway.url).sign_in(email), 401)
    ok(Console(mail_gateway.url).sign_in(email, "brand new passphrase"))


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mail_gateway: Gateway, smtp: SmtpSink
) -> None:
    email = new_email()
    # (A forged Host would not reach a link either: links come from public_url.)
    response = httpx.post(
        f"{mail_gateway.url}/console/api/password-reset",
        json={"email": email},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 202 and response.json() == {"sent": True}
    time.sleep(0.5)
    assert all(message["To"] != email for message in smtp.messages)
    expect_error(
        httpx.post(
            f"{mail_gateway.url}/console/api/password-reset/confirm",
            json={"token": "made-up", "new_password": "brand new passphrase"},
        ),
        400,
    )


def test_reset_requests_are_throttled(mail_gateway: Gateway) -> None:
    email = new_email()
    console = Console(mail_gateway.url)
    for _ in range(5):
        assert console.call("POST", "/password-reset", {"email": email}).status_code == 202
    expect_error(console.call("POST", "/password-reset", {"email": email}), 429)


def test_without_mail_settings_reset_is_501(gateway: Gateway) -> None:
    console = Console(gateway.url)
    assert ok(console.call("GET", "/config"))["password_reset"] is False
    expect_error(console.call("POST", "/password-reset", {"email": new_email()}), 501)


def test_a_user_made_by_the_operator_sets_a_first_password(
    mail_gateway: Gateway, smtp: SmtpSink
) -> None:
    admin = Admin(mail_gateway.url, mail_gateway.admin_key)
    email = new_email()
    admin.create_user(email=email)
    admin.close()
    console = Console(mail_gateway.url)
    expect_error(console.sign_in(email, "anything at all"), 401)
    ok(console.call("POST", "/password-reset", {"email": email}), 202)
    change = {
        "token": link_token(smtp.wait_for(email), "reset"),
        "new_password": "first passphrase",
    }
    ok(console.call("POST", "/password-reset/confirm", change))
    assert ok(Console(mail_gateway.url).sign_in(email, "first passphrase"))["role"] == "user"
