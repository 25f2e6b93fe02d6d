"""Console sign-in with the GitHub preset (``oidc_issuer = "github"``) against a fake GitHub
on loopback: the browser is sent to GitHub's authorize page with the state, the PKCE
challenge and the e-mail scope; the code is traded with the client secret and the verifier
(asked for JSON); the account's primary verified address creates a user, or links the
existing one; the same GitHub account (by id) signs in again; an unverified or non-primary
address links nothing; a refused code, a forged state and a cancelled authorization sign no
one in; two-factor still asks; in a real browser, the sign-in page's button does it all. The
settings: ``github`` needs a client secret."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from fakes.github_oauth import CLIENT_ID, CLIENT_SECRET, Account, FakeGitHub
from support.admin import Admin
from support.console import Console, new_email, open_registration
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok
from surfaces.console.browser_kit import catalog, shoot

from airelay.config import ConfigError, load_settings


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def github_gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub
) -> Iterator[Gateway]:
    port = _free_port()
    with Gateway(
        database_url,
        tmp_path_factory.mktemp("github"),
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        oidc_issuer="github",
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_name="GitHub",
        oidc_github_url=github.web_url,
        oidc_github_api_url=github.api_url,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def github_admin(github_gateway: Gateway) -> Iterator[Admin]:
    client = Admin(github_gateway.url, github_gateway.admin_key)
    open_registration(client.http)
    yield client
    client.close()


def _authorize(gateway: Gateway, console: Console) -> str:
    """Start, and GitHub's page: the callback URL GitHub sends the browser back to."""
    start = console.http.get("/console/api/oidc/start")
    assert start.status_code == 302, start.text
    authorize = httpx.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    back = authorize.headers["location"]
    assert back.startswith(f"{gateway.url}/console/api/oidc/callback?")
    return back


def sign_in(gateway: Gateway, console: Console) -> str:
    """The whole round trip as a browser makes it; where the console is sent at its end."""
    back = _authorize(gateway, console)
    done = console.http.get(back.removeprefix(gateway.url))
    assert done.status_code == 302, done.text
    return str(done.headers["location"])


def test_github_creates_the_user_then_finds_it_by_its_id(
    github_gateway: Gateway, github_admin: Admin, github: FakeGitHub
) -> None:
    email = new_email()
    github.account = Account.with_primary(email.upper())
    github.account.name = "Mona Lisa"
    console = Console(github_gateway.url)
    assert ok(console.call("GET", "/config"))["oidc"] == {"name": "GitHub"}
    start = console.http.get("/console/api/oidc/start")
    location = urlsplit(start.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == github.web_url
    assert location.path == "/login/oauth/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{github_gateway.url}/console/api/oidc/callback"]
    assert set(query["scope"][0].split()) == {"read:user", "user:email"}
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    assert "airelay_oidc" in start.headers["set-cookie"]

    assert sign_in(github_gateway, console) == "/console/"
    me = ok(console.call("GET", "/me"))
    assert me["user"]["email"] == email and me["role"] == "user"
    assert me["user"]["name"] == "Mona Lisa"
    sent = github.token_requests[-1]
    assert sent["client_secret"] == CLIENT_SECRET and sent["code_verifier"]
    assert "application/json" in github.token_accept[-1]
    assert all(agent for agent in github.api_user_agents)

    # The same GitHub account, renamed and with another primary address, is the same user.
    github.account.login = "renamed"
    github.account.emails = [{"email": new_email(), "primary": True, "verified": True}]
    again = Console(github_gateway.url)
    assert sign_in(github_gateway, again) == "/console/"
    assert ok(again.call("GET", "/me"))["user"]["id"] == me["user"]["id"]


def test_a_verified_primary_address_links_the_existing_account(
    github_gateway: Gateway, github_admin: Admin, github: FakeGitHub
) -> None:
    email = new_email()
    owner = Console(github_gateway.url)
    user_id = ok(owner.sign_up(email), 201)["user"]["id"]
    github.account = Account.with_primary(email)
    console = Console(github_gateway.url)
    assert sign_in(github_gateway, console) == "/console/"
    assert ok(console.call("GET", "/me"))["user"]["id"] == user_id


@pytest.mark.parametrize("how", ["unverified primary", "verified but not primary"])
def test_an_address_github_does_not_vouch_for_links_nothing(
    github_gateway: Gateway, github_admin: Admin, github: FakeGitHub, how: str
) -> None:
    email = new_email()
    owner = Console(github_gateway.url)
    ok(owner.sign_up(email), 201)
    if how == "unverified primary":
        github.account = Account.with_primary(email, verified=False)
    else:
        github.account = Account.with_primary(new_email(), verified=False)
        github.account.emails.append({"email": email, "primary": False, "verified": True})
    intruder = Console(github_gateway.url)
    assert sign_in(github_gateway, intruder).endswith("#error=oidc_no_account")
    expect_error(intruder.call("GET", "/me"), 401)


def test_a_refused_code_a_forged_state_and_a_cancel_sign_no_one_in(
    github_gateway: Gateway, github_admin: Admin, github: FakeGitHub
) -> None:
    github.account = Account.with_primary(new_email())
    # A code GitHub does not know: it answers 200 with an error member.
    console = Console(github_gateway.url)
    back = _authorize(github_gateway, console)
    parts = parse_qs(urlsplit(back).query)
    bogus = f"/console/api/oidc/callback?code=0000&state={parts['state'][0]}"
    done = console.http.get(bogus)
    assert done.status_code == 302 and done.headers["location"].endswith("#error=oidc_failed")
    assert github.token_requests[-1]["code"] == "0000"
    expect_error(console.call("GET", "/me"), 401)

    # An attacker's code and state, pushed into a victim's browser.
    victim = Console(github_gateway.url)
    victim.http.get("/console/api/oidc/start")
    forced = _authorize(github_gateway, Console(github_gateway.url))
    done = victim.http.get(forced.removeprefix(github_gateway.url))
    assert done.headers["location"].endswith("#error=oidc_state")
    expect_error(victim.call("GET", "/me"), 401)

    # Cancelled on GitHub's page.
    github.account = None
    cancelled = Console(github_gateway.url)
    assert sign_in(github_gateway, cancelled).endswith("#error=oidc_denied")
    expect_error(cancelled.call("GET", "/me"), 401)


def test_two_factor_still_asks_after_github(
    github_gateway: Gateway, github_admin: Admin, github: FakeGitHub
) -> None:
    email = new_email()
    owner = Console(github_gateway.url)
    ok(owner.sign_up(email), 201)
    secret = ok(owner.call("POST", "/totp/setup"))["secret"]
    ok(owner.call("POST", "/totp/enable", {"code": pyotp.TOTP(secret).now()}))
    github.account = Account.with_primary(email)
    console = Console(github_gateway.url)
    sign_in(github_gateway, console)
    pending = ok(console.call("GET", "/me"))
    assert pending["two_factor_required"] is True
    expect_error(console.call("GET", "/keys"), 401)
    console.csrf = pending["csrf_token"]
    ok(console.second_factor(pyotp.TOTP(secret).now()))
    assert ok(console.call("GET", "/me"))["user"]["email"] == email


def test_the_github_preset_in_the_settings() -> None:
    settings = load_settings(
        {
            "AIRELAY_OIDC_ISSUER": "github",
            "AIRELAY_OIDC_CLIENT_ID": CLIENT_ID,
            "AIRELAY_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    assert settings.oidc_issuer == "github"
    assert settings.oidc_github_url == "https://github.com"
    assert settings.oidc_github_api_url == "https://api.github.com"
    with pytest.raises(ConfigError, match=r"^AIRELAY_OIDC_CLIENT_SECRET: GitHub"):
        load_settings({"AIRELAY_OIDC_ISSUER": "github", "AIRELAY_OIDC_CLIENT_ID": CLIENT_ID})
    for issuer in ("gitlab", "githubx", "github.com"):
        with pytest.raises(ConfigError, match=r"^AIRELAY_OIDC_ISSUER: invalid value"):
            load_settings({"AIRELAY_OIDC_ISSUER": issuer})
    with pytest.raises(ConfigError, match=r"^AIRELAY_OIDC_GITHUB_API_URL: invalid value"):
        load_settings({"AIRELAY_OIDC_GITHUB_API_URL": "api.github.com"})


def test_in_the_browser_the_github_button_signs_in(
    github_gateway: Gateway,
    github_admin: Admin,
    github: FakeGitHub,
    chromium: Any,
    artifacts: Path,
) -> None:
    """The sign-in page's button, GitHub's page and the way back, followed by chromium: the
    flow cookie set at the start comes back with the callback, and the console opens."""
    email = new_email()
    github.account = Account.with_primary(email)
    for lang, locale in (("en", "en-US"), ("zh", "zh-CN")):
        context = chromium.new_context(locale=locale)
        page = context.new_page()
        page.goto(f"{github_gateway.url}/console/")
        button = catalog(lang)["auth.oidc"].replace("{name}", "GitHub")
        page.wait_for_selector(f"a:text-is('{button}')")
        shoot(page, artifacts, f"login-github-{lang}")
        page.click(f"a:text-is('{button}')")
        page.wait_for_selector("#balance")
        assert page.text_content("header .who") == email
        context.close()
