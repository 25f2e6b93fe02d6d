"""What keeps console sessions safe: cookie flags, CSRF on every state-changing request,
requests from other origins refused, a new session at each sign-in (fixation), sign-out
that ends the session, failed sign-ins throttled (passwords, second-factor codes, password
changes; management-key guesses per address), and no secret echoed or stored."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import httpx
import pyotp
import pytest
from support.console import PASSWORD, Console, new_email
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump

Browser = Callable[[], Console]


def _set_cookie(response: httpx.Response) -> str:
    (header,) = response.headers.get_list("set-cookie")
    return header


def test_the_session_cookie_flags(browser: Browser) -> None:
    response = browser().sign_up(new_email())
    assert response.status_code == 201, response.text
    cookie = _set_cookie(response)
    name, _, rest = cookie.partition("=")
    attributes = {part.strip().split("=")[0].lower() for part in rest.split(";")[1:]}
    assert name == "airelay_session"
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    # Served over plain HTTP without a public https URL: not Secure (it would be dropped).
    assert "secure" not in attributes
    # The secret is in the cookie only: not in the body.
    secret = rest.split(";")[0]
    assert secret not in response.text and len(secret) >= 40


def test_secure_cookies_when_the_public_url_is_https(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("secure")
    with Gateway(database_url, data_dir, public_url="https://relay.example.com") as gateway:
        console = Console(gateway.url)
        response = console.operator(gateway.admin_key)
        assert response.status_code == 200, response.text
        assert "; secure" in _set_cookie(response).lower()
        console.close()


def test_every_state_changing_request_needs_the_csrf_token(browser: Browser) -> None:
    console = browser()
    ok(console.sign_up(new_email()), 201)
    token = console.csrf
    writes = [
        ("POST", "/keys", {"name": "k"}),
        ("POST", "/redeem", {"code": "rc-00"}),
        ("POST", "/password", {"current_password": PASSWORD, "new_password": "xxxxxxxxxx"}),
        ("POST", "/totp/setup", None),
        ("POST", "/logout", None),
    ]
    for forged in ("", "wrong", token[:-1]):
        console.csrf = forged
        for method, path, body in writes:
            message = expect_error(console.call(method, path, body), 403)
            assert "CSRF" in message, (path, message)
    console.csrf = token
    created = ok(console.call("POST", "/keys", {"name": "k"}), 201)
    console.csrf = ""
    expect_error(console.call("PATCH", f"/keys/{created['id']}", {"name": "x"}), 403)
    expect_error(console.call("DELETE", f"/keys/{created['id']}"), 403)
    console.csrf = token
    # The right token from another site's page is still refused.
    expect_error(
        console.call("POST", "/keys", {"name": "k"}, headers={"Origin": "https://evil.example"}),
        403,
    )
    ok(console.call("GET", "/me"))  # reads need no token, and the session still works


def test_sign_in_takes_only_json_from_this_origin(gateway: Gateway, browser: Browser) -> None:
    email = new_email()
    ok(browser().sign_up(email), 201)
    # What a cross-site HTML form can send: refused before the password is looked at.
    form = httpx.post(
        f"{gateway.url}/console/api/login",
        data={"email": email, "password": PASSWORD},
    )
    expect_error(form, 400)
    for origin in ("https://evil.example", "null"):
        response = httpx.post(
            f"{gateway.url}/console/api/login",
            json={"email": email, "password": PASSWORD},
            headers={"Origin": origin},
        )
        expect_error(response, 403)
    same = httpx.post(
        f"{gateway.url}/console/api/login",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": gateway.url},
    )
    assert same.status_code == 200, same.text


def test_a_new_session_at_sign_in_and_none_after_sign_out(
    gateway: Gateway, browser: Browser
) -> None:
    email = new_email()
    ok(browser().sign_up(email), 201)
    console = browser()
    ok(console.sign_in(email))
    first = console.http.cookies["airelay_session"]
    ok(console.sign_in(email))
    second = console.http.cookies["airelay_session"]
    assert first != second
    # The session the browser held before is over (a fixed session is worth nothing).
    stale = httpx.get(f"{gateway.url}/console/api/me", cookies={"airelay_session": first})
    expect_error(stale, 401)
    ok(console.call("POST", "/logout"))
    replayed = httpx.get(f"{gateway.url}/console/api/me", cookies={"airelay_session": second})
    expect_error(replayed, 401)
    stored = table_dump(gateway.settings.database_url, "web_sessions")
    assert first not in stored and second not in stored


def test_guesses_sent_at_once_get_no_more_answers_than_the_limit(
    gateway: Gateway, registration: None
) -> None:
    email = new_email()
    ok(Console(gateway.url).sign_up(email), 201)

    def guess(index: int) -> int:
        return Console(gateway.url).sign_in(email, f"guess {index}").status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(guess, range(12)))
    assert sorted(statuses) == [401] * 5 + [429] * 7


def test_failed_sign_ins_are_throttled(browser: Browser) -> None:
    email = new_email()
    ok(browser().sign_up(email), 201)
    attacker = browser()
    for _ in range(5):
        expect_error(attacker.sign_in(email, "guess guess"), 401)
    throttled = attacker.sign_in(email, "guess guess")
    expect_error(throttled, 429)
    assert 1 <= int(throttled.headers["Retry-After"]) <= 900
    # The right password is refused too while the account is throttled.
    expect_error(browser().sign_in(email), 429)
    # Another account is not.
    other = new_email()
    ok(browser().sign_up(other), 201)
    ok(browser().sign_in(other))


def test_management_key_guesses_lock_out_only_the_address_they_come_from(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Guessing the management key is throttled per client address: the guesser is turned
    away (the right key too, from there), the operator elsewhere is not."""
    with Gateway(database_url, tmp_path_factory.mktemp("mgmt-throttle")) as gateway:
        guesser = Console(gateway.url, local_address="127.0.0.2")
        for index in range(5):
            expect_error(guesser.operator(f"mgmt-guess-{index}"), 401)
        throttled = guesser.operator("mgmt-guess-again")
        expect_error(throttled, 429)
        assert 1 <= int(throttled.headers["Retry-After"]) <= 900
        expect_error(guesser.operator(gateway.admin_key), 429)
        # The operator, from another address, signs in; a third address has its own tries.
        operator = Console(gateway.url)
        assert ok(operator.operator(gateway.admin_key))["role"] == "operator"
        elsewhere = Console(gateway.url, local_address="127.0.0.3")
        expect_error(elsewhere.operator("mgmt-not-it"), 401)
        for console in (guesser, operator, elsewhere):
            console.close()


def test_second_factor_guesses_are_throttled(gateway: Gateway, browser: Browser) -> None:
    """Codes are counted against the account, whichever session or address sends them: a
    new sign-in with the password gets no fresh tries, the right code waits too."""
    email = new_email()
    owner = browser()
    ok(owner.sign_up(email), 201)
    totp = pyotp.TOTP(ok(owner.call("POST", "/totp/setup"))["secret"])
    ok(owner.call("POST", "/totp/enable", {"code": totp.now()}))
    guesser = Console(gateway.url, local_address="127.0.0.4")
    assert ok(guesser.sign_in(email))["two_factor_required"] is True
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    for _ in range(5):
        expect_error(guesser.second_factor(wrong), 401)
    throttled = guesser.second_factor(wrong)
    expect_error(throttled, 429)
    assert 1 <= int(throttled.headers["Retry-After"]) <= 900
    ok(guesser.sign_in(email))  # the password is right: a new pending session...
    expect_error(guesser.second_factor(totp.now()), 429)  # ...and still no more tries
    again = Console(gateway.url, local_address="127.0.0.5")
    ok(again.sign_in(email))
    expect_error(again.second_factor(totp.now()), 429)
    for console in (guesser, again):
        console.close()


def test_password_change_guesses_are_throttled(gateway: Gateway, browser: Browser) -> None:
    """A session left open is no way to guess the password: the current password is asked
    for, and wrong ones are counted against the account."""
    email = new_email()
    ok(browser().sign_up(email), 201)
    left_open = Console(gateway.url, local_address="127.0.0.6")
    ok(left_open.sign_in(email))
    for index in range(5):
        change = {"current_password": f"guess number {index}", "new_password": "taken over!"}
        expect_error(left_open.call("POST", "/password", change), 403)
    right = {"current_password": PASSWORD, "new_password": "taken over!"}
    throttled = left_open.call("POST", "/password", right)
    expect_error(throttled, 429)
    assert 1 <= int(throttled.headers["Retry-After"]) <= 900
    # Unchanged: the password still signs in, the guessed one does not.
    ok(browser().sign_in(email))
    expect_error(browser().sign_in(email, "taken over!"), 401)
    left_open.close()


def test_no_secret_is_echoed(gateway: Gateway, browser: Browser) -> None:
    console = browser()
    ok(console.sign_up(new_email()), 201)
    created = ok(console.call("POST", "/keys", {"name": "once"}), 201)
    key = created["key"]
    listed = console.call("GET", "/keys")
    again = console.call("PATCH", f"/keys/{created['id']}", {"name": "renamed"})
    for response in (listed, again, console.call("GET", "/me")):
        assert response.status_code == 200
        assert key not in response.text
    assert key not in table_dump(gateway.settings.database_url, "tokens")
    wrong = console.sign_in("nobody@example.com", "my secret password")
    assert "my secret password" not in wrong.text
    bad_key = console.operator("mgmt-secret-guess-123")
    assert "mgmt-secret-guess-123" not in bad_key.text
