"""Console sign-in through an OpenID Connect provider (a fake one on loopback speaking the
authorization-code flow with PKCE): a new user is created when sign-up is open and the
provider vouches for the e-mail, the same provider account signs in again, a state that does
not match is refused, an unverified address links no account, and two-factor still asks."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from fakes.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeOidc
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import Console, new_email, open_registration
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidc]:
    with FakeOidc() as fake:
        yield fake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def oidc_gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, provider: FakeOidc, smtp: SmtpSink
) -> Iterator[Gateway]:
    port = _free_port()
    with Gateway(
        database_url,
        tmp_path_factory.mktemp("oidc"),
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_name="Example ID",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def oidc_admin(oidc_gateway: Gateway) -> Iterator[Admin]:
    client = Admin(oidc_gateway.url, oidc_gateway.admin_key)
    open_registration(client.http)
    yield client
    client.close()


def sign_in(gateway: Gateway, console: Console) -> httpx.Response:
    """What the browser does: start, the provider's page, the callback; returns the last
    redirect (to the console)."""
    start = console.http.get("/console/api/oidc/start")
    assert start.status_code == 302, start.text
    authorize = httpx.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    back = authorize.headers["location"]
    assert back.startswith(f"{gateway.url}/console/api/oidc/callback?")
    done = console.http.get(back.removeprefix(gateway.url))
    assert done.status_code == 302, done.text
    return done


def test_sign_in_creates_then_finds_the_user(
    oidc_gateway: Gateway, oidc_admin: Admin, provider: FakeOidc
) -> None:
    email = new_email()
    provider.user = {"sub": uuid.uuid4().hex, "email": email, "email_verified": True}
    console = Console(oidc_gateway.url)
    assert ok(console.call("GET", "/config"))["oidc"] == {"name": "Example ID"}
    start = console.http.get("/console/api/oidc/start")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{oidc_gateway.url}/console/api/oidc/callback"]
    flow_cookie = start.headers["set-cookie"].lower()
    assert "httponly" in flow_cookie and "path=/console/api/oidc" in flow_cookie
    done = sign_in(oidc_gateway, console)
    assert done.headers["location"] == "/console/"
    me = ok(console.call("GET", "/me"))
    assert me["user"]["email"] == email and me["role"] == "user"
    # The PKCE verifier went to the token endpoint (the fake checked it against the
    # challenge), with the client's secret.
    assert provider.token_requests[-1]["code_verifier"]
    again = Console(oidc_gateway.url)
    sign_in(oidc_gateway, again)
    assert ok(again.call("GET", "/me"))["user"]["id"] == me["user"]["id"]


def test_a_callback_whose_state_does_not_match_is_refused(
    oidc_gateway: Gateway, oidc_admin: Admin, provider: FakeOidc
) -> None:
    provider.user = {"sub": uuid.uuid4().hex, "email": new_email(), "email_verified": True}
    victim = Console(oidc_gateway.url)
    victim.http.get("/console/api/oidc/start")
    # An attacker's own code and state, pushed to the victim's browser.
    attacker = Console(oidc_gateway.url)
    start = attacker.http.get("/console/api/oidc/start")
    back = httpx.get(start.headers["location"]).headers["location"]
    forced = victim.http.get(back.removeprefix(oidc_gateway.url))
    assert forced.status_code == 302 and forced.headers["location"].endswith("#error=oidc_state")
    expect_error(victim.call("GET", "/me"), 401)


def test_an_unverified_address_links_no_account(
    oidc_gateway: Gateway, oidc_admin: Admin, provider: FakeOidc
) -> None:
    email = new_email()
    owner = Console(oidc_gateway.url)
    assert owner.sign_up(email).status_code == 201
    provider.user = {"sub": uuid.uuid4().hex, "email": email, "email_verified": False}
    intruder = Console(oidc_gateway.url)
    done = sign_in(oidc_gateway, intruder)
    assert done.headers["location"].endswith("#error=oidc_no_account")
    expect_error(intruder.call("GET", "/me"), 401)


def test_two_factor_still_asks(
    oidc_gateway: Gateway, oidc_admin: Admin, provider: FakeOidc
) -> None:
    email = new_email()
    owner = Console(oidc_gateway.url)
    assert owner.sign_up(email).status_code == 201
    secret = ok(owner.call("POST", "/totp/setup"))["secret"]
    ok(owner.call("POST", "/totp/enable", {"code": pyotp.TOTP(secret).now()}))
    provider.user = {"sub": uuid.uuid4().hex, "email": email, "email_verified": True}
    console = Console(oidc_gateway.url)
    sign_in(oidc_gateway, console)  # linked by the verified address
    pending = ok(console.call("GET", "/me"))
    assert pending["two_factor_required"] is True
    console.csrf = pending["csrf_token"]
    expect_error(console.call("GET", "/keys"), 401)
    ok(console.second_factor(pyotp.TOTP(secret).now()))
    assert ok(console.call("GET", "/me"))["user"]["email"] == email


def test_a_verified_address_from_the_provider_verifies_the_account(
    oidc_gateway: Gateway, oidc_admin: Admin, provider: FakeOidc, smtp: SmtpSink
) -> None:
    """With e-mail verification on, an account waiting for its link is verified when the
    provider vouches for its address: its password then signs in too."""
    settings = {"features": {"email_verification": True}}
    ok(oidc_admin.http.patch("/v1/admin/settings", json=settings))
    try:
        email = new_email()
        assert ok(Console(oidc_gateway.url).sign_up(email), 201)["verification_required"]
        smtp.wait_for(email)
        expect_error(Console(oidc_gateway.url).sign_in(email), 403)
        provider.user = {"sub": uuid.uuid4().hex, "email": email, "email_verified": True}
        console = Console(oidc_gateway.url)
        sign_in(oidc_gateway, console)
        assert ok(console.call("GET", "/me"))["user"]["email"] == email
        ok(Console(oidc_gateway.url).sign_in(email))
    finally:
        settings["features"]["email_verification"] = False
        ok(oidc_admin.http.patch("/v1/admin/settings", json=settings))


def test_without_oidc_settings_the_routes_are_404(gateway: Gateway) -> None:
    expect_error(httpx.get(f"{gateway.url}/console/api/oidc/start"), 404)
    expect_error(httpx.get(f"{gateway.url}/console/api/oidc/callback?code=x&state=y"), 404)
