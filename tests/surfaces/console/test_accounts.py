"""Console accounts: sign-up as the ``registration_enabled`` setting says, passwords stored
as argon2id hashes, sign-in and sign-out, TOTP as a second factor, password change."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
from support.admin import Admin
from support.console import PASSWORD, Console, new_email, open_registration
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump

Browser = Callable[[], Console]


def test_sign_up_follows_the_registration_setting(
    gateway: Gateway, admin: Admin, browser: Browser
) -> None:
    open_registration(admin.http, enabled=False)
    try:
        closed = browser()
        assert "closed" in expect_error(closed.sign_up(new_email()), 403)
        config = ok(closed.call("GET", "/config"))
        assert config["registration_enabled"] is False
    finally:
        open_registration(admin.http)
    email = new_email()
    first = browser()
    body = ok(first.sign_up(email.upper()), 201)
    assert body["user"]["email"] == email and body["role"] == "user"
    assert body["user"]["balance"] == 0 and body["two_factor"] is False
    assert ok(first.call("GET", "/me"))["user"]["id"] == body["user"]["id"]
    assert ok(first.call("GET", "/config"))["registration_enabled"] is True
    expect_error(browser().sign_up(email), 409)
    expect_error(browser().sign_up(new_email(), password="short"), 400)
    expect_error(browser().sign_up("not-an-email"), 400)
    stored = table_dump(gateway.settings.database_url, "credentials")
    assert "$argon2id$" in stored and PASSWORD not in stored
    # The management API sees the new user like any other.
    assert ok(admin.http.get(f"/v1/admin/users/{body['user']['id']}"))["email"] == email


def test_sign_in_and_out(browser: Browser) -> None:
    email = new_email()
    ok(browser().sign_up(email), 201)
    console = browser()
    expect_error(console.call("GET", "/me"), 401)
    expect_error(console.sign_in(email, "wrong password"), 401)
    expect_error(console.sign_in(new_email()), 401)  # unknown: the same answer
    body = ok(console.sign_in(f"  {email.upper()} "))
    assert body["user"]["email"] == email and body["csrf_token"]
    ok(console.call("POST", "/logout"))
    expect_error(console.call("GET", "/me"), 401)


def test_totp_second_factor(browser: Browser) -> None:
    email = new_email()
    console = browser()
    ok(console.sign_up(email), 201)
    setup = ok(console.call("POST", "/totp/setup"))
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    expect_error(console.call("POST", "/totp/enable", {"code": "000000"}), 400)
    assert ok(console.call("POST", "/totp/enable", {"code": totp.now()}))["two_factor"] is True
    assert ok(console.call("GET", "/me"))["two_factor"] is True
    expect_error(console.call("POST", "/totp/setup"), 409)

    other = browser()
    pending = ok(other.sign_in(email))
    assert pending == {"two_factor_required": True, "csrf_token": other.csrf}
    # The password alone opens nothing.
    assert ok(other.call("GET", "/me")) == {"two_factor_required": True, "csrf_token": other.csrf}
    expect_error(other.call("GET", "/keys"), 401)
    expect_error(other.second_factor("123456"), 401)
    wrong = other.csrf
    other.csrf = "forged"
    expect_error(other.second_factor(totp.now()), 403)
    other.csrf = wrong
    body = ok(other.second_factor(totp.now()))
    assert body["user"]["email"] == email
    assert ok(other.call("GET", "/me"))["two_factor"] is True
    ok(other.call("POST", "/totp/disable", {"code": totp.now()}))
    assert ok(browser().sign_in(email))["two_factor"] is False


def test_password_change_ends_the_other_sessions(browser: Browser) -> None:
    email = new_email()
    mine, elsewhere = browser(), browser()
    ok(mine.sign_up(email), 201)
    ok(elsewhere.sign_in(email))
    change = {"current_password": "not it at all", "new_password": "a new passphrase"}
    expect_error(mine.call("POST", "/password", change), 403)
    change["current_password"] = PASSWORD
    expect_error(mine.call("POST", "/password", {**change, "new_password": "short"}), 400)
    ok(mine.call("POST", "/password", change))
    ok(mine.call("GET", "/me"))
    expect_error(elsewhere.call("GET", "/me"), 401)
    expect_error(browser().sign_in(email), 401)
    ok(browser().sign_in(email, "a new passphrase"))


def test_the_management_key_signs_in_as_an_operator(
    gateway: Gateway, admin: Admin, browser: Browser
) -> None:
    operator = browser()
    expect_error(operator.operator("mgmt-not-the-key"), 401)
    body = ok(operator.operator(gateway.admin_key))
    assert body["role"] == "operator" and body["user"] is None
    # The management API through the session: reads, and writes with the CSRF token.
    listed = operator.http.get("/v1/admin/users")
    assert listed.status_code == 200, listed.text
    created = operator.http.post(
        "/v1/admin/users", json={"email": new_email()}, headers={"X-CSRF-Token": operator.csrf}
    )
    assert created.status_code == 201, created.text
    expect_error(operator.http.post("/v1/admin/users", json={"email": new_email()}), 403)
    # A user's session does not reach it.
    user = browser()
    ok(user.sign_up(new_email()), 201)
    expect_error(user.http.get("/v1/admin/users"), 403)
    expect_error(
        user.http.post(
            "/v1/admin/redemptions", json={"amount": 1}, headers={"X-CSRF-Token": user.csrf}
        ),
        403,
    )


def test_roles_given_by_the_operator(admin: Admin, browser: Browser) -> None:
    email = new_email()
    user = browser()
    user_id = ok(user.sign_up(email), 201)["user"]["id"]
    expect_error(admin.http.patch(f"/v1/admin/users/{user_id}", json={"role": "root"}), 400)
    changed = ok(admin.http.patch(f"/v1/admin/users/{user_id}", json={"role": "viewer"}))
    assert changed["role"] == "viewer"
    # The role holds for the session at once: a read-only operator reads, never writes.
    assert ok(user.call("GET", "/me"))["role"] == "viewer"
    assert user.http.get("/v1/admin/users").status_code == 200
    headers = {"X-CSRF-Token": user.csrf}
    expect_error(user.http.post("/v1/admin/redemptions", json={"amount": 1}, headers=headers), 403)
    ok(admin.http.patch(f"/v1/admin/users/{user_id}", json={"role": "operator"}))
    created = user.http.post("/v1/admin/redemptions", json={"amount": 1}, headers=headers)
    assert created.status_code == 201, created.text
    # An account made through the management API gets credentials with its first role.
    bare = admin.create_user()
    assert ok(admin.http.patch(f"/v1/admin/users/{bare['id']}", json={"role": "user"}))


def test_recovery_codes_stand_in_for_the_second_factor_once(
    gateway: Gateway, browser: Browser
) -> None:
    email = new_email()
    console = browser()
    ok(console.sign_up(email), 201)
    totp = pyotp.TOTP(ok(console.call("POST", "/totp/setup"))["secret"])
    enabled = ok(console.call("POST", "/totp/enable", {"code": totp.now()}))
    codes = enabled["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = table_dump(gateway.settings.database_url, "recovery_codes")
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    first = browser()
    ok(first.sign_in(email))
    ok(first.second_factor(codes[0].upper().replace("-", " ")))  # as typed off paper
    second = browser()
    ok(second.sign_in(email))
    expect_error(second.second_factor(codes[0]), 401)  # spent
    ok(second.second_factor(codes[1]))
    # Turned off and on again: the old codes are gone.
    ok(console.call("POST", "/totp/disable", {"code": totp.now()}))
    totp = pyotp.TOTP(ok(console.call("POST", "/totp/setup"))["secret"])
    ok(console.call("POST", "/totp/enable", {"code": totp.now()}))
    third = browser()
    ok(third.sign_in(email))
    expect_error(third.second_factor(codes[2]), 401)


def test_a_totp_code_signs_in_once(browser: Browser) -> None:
    """A code spent on a sign-in is refused if shown again while it would still be valid,
    and so is any code of an earlier time step; a later step's code still works."""
    email = new_email()
    console = browser()
    ok(console.sign_up(email), 201)
    totp = pyotp.TOTP(ok(console.call("POST", "/totp/setup"))["secret"])
    ok(console.call("POST", "/totp/enable", {"code": totp.now()}))
    code = totp.now()
    first = browser()
    ok(first.sign_in(email))
    ok(first.second_factor(code))
    replay = browser()
    ok(replay.sign_in(email))
    expect_error(replay.second_factor(code), 401)
    expect_error(replay.second_factor(totp.at(time.time() - 30)), 401)  # an older step
    # The next step's code (accepted one step early, for clock drift) is a new code.
    ok(replay.second_factor(totp.at(time.time() + 30)))
