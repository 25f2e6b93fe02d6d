"""CSRF from the route table: every state-changing route the gateway serves (read from its
router, so a route added tomorrow is in this test without anyone listing it) is refused to
a browser session that does not send its CSRF token.

- A console route that acts for a session refuses it with 403 when the token is missing,
  wrong, or right but sent from another site's page, whatever session the cookie holds
  (a user's, one waiting for its second factor, an operator's).
- The management API reached with an operator's session cookie instead of a key: the same.
- The few routes that open a session (there is none yet, so no token) are named in
  ``PRE_SESSION``; each refuses what a cross-site page can send: a form (400) and JSON from
  another origin (403). A route can only skip the token by being listed there.
- Every other route takes no cookie as a credential: a session cookie alone gets no 2xx.

Nothing here sends a valid token, so no request of this test changes anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import pytest
from aiohttp import web
from support.console import Console, new_email
from support.gateway import Gateway
from surfaces.admin_kit import ok

from airelay.routes import add_routes
from airelay.surfaces.console.session import COOKIE, SAFE_METHODS

API = "/console/api"
# Routes that open a session (or act without one, from a mailed link): no CSRF token can
# exist yet; the JSON-only, same-origin check stands in for it.
PRE_SESSION = frozenset(
    {
        f"{API}/signup",
        f"{API}/login",
        f"{API}/login/admin",
        f"{API}/password-reset",
        f"{API}/password-reset/confirm",
        f"{API}/verify-email",  # e-mail verification, where it is served
        f"{API}/verify-email/resend",
    }
)
EVIL = "https://evil.example"


def writes() -> list[tuple[str, str]]:
    """(method, path) of every state-changing route of the router."""
    app = web.Application()
    add_routes(app.router)
    found = set()
    for route in app.router.routes():
        if route.method in SAFE_METHODS or route.method == "*" or route.resource is None:
            continue
        found.add((route.method, route.resource.canonical))
    return sorted(found)


WRITES = writes()


def _concrete(path: str) -> str:
    """The path with each parameter given a made-up value."""
    return re.sub(r"\{[^}]+\}", "x-1", path)


def _admin(path: str) -> bool:
    return path.startswith(("/v1/admin/", "/admin/")) or path in ("/v1/admin", "/admin")


@dataclass
class Sessions:
    user: Console
    pending: Console  # the password given, the second factor not yet
    operator: Console

    def all(self) -> dict[str, Console]:
        return {"user": self.user, "pending": self.pending, "operator": self.operator}


@pytest.fixture(scope="module")
def sessions(gateway: Gateway, registration: None) -> Sessions:
    user = Console(gateway.url)
    ok(user.sign_up(new_email()), 201)
    two_factor = Console(gateway.url)
    email = new_email()
    ok(two_factor.sign_up(email), 201)
    secret = ok(two_factor.call("POST", "/totp/setup"))["secret"]
    ok(two_factor.call("POST", "/totp/enable", {"code": pyotp.TOTP(secret).now()}))
    pending = Console(gateway.url)
    assert ok(pending.sign_in(email))["two_factor_required"] is True
    operator = Console(gateway.url)
    ok(operator.operator(gateway.admin_key))
    return Sessions(user, pending, operator)


def test_the_table_has_the_routes_this_test_is_about() -> None:
    paths = {path for _, path in WRITES}
    for must in ("totp/enable", "totp/disable", "checkout", "login/totp", "keys/{id}"):
        assert f"{API}/{must}" in paths, must
    assert sum(1 for path in paths if path.startswith(API)) >= 15
    assert sum(1 for path in paths if _admin(path)) >= 15
    assert {p for p in paths if p.startswith(API)} & PRE_SESSION  # the list is not stale


Send = Callable[[Console, str, str, dict[str, str]], tuple[int, str]]


def _send(console: Console, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A JSON request with the console's cookie and exactly ``headers`` (no token unless
    given)."""
    response = console.http.request(method, _concrete(path), json={}, headers=headers)
    return response.status_code, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p in WRITES if (p.startswith(API) and p not in PRE_SESSION) or _admin(p)],
    ids=lambda v: str(v),
)
def test_a_session_route_refuses_a_request_without_its_csrf_token(
    sessions: Sessions, method: str, path: str
) -> None:
    wrong: list[str] = []
    refused_for_csrf = 0
    for kind, console in sessions.all().items():
        attempts = {
            "no token": {},
            "wrong token": {"X-CSRF-Token": console.csrf[:-2] + "xx"},
            "another session's token": {
                "X-CSRF-Token": next(c.csrf for c in sessions.all().values() if c is not console)
            },
        }
        for what, headers in attempts.items():
            status, text = _send(console, method, path, headers)
            if status == 403 and "CSRF" in text:
                refused_for_csrf += 1
            elif status != 401:  # a session of the wrong stage is no session at all
                wrong.append(f"{kind}, {what}: {status} {text[:160]}")
        # The right token, from a page of another site.
        status, text = _send(console, method, path, {"X-CSRF-Token": console.csrf, "Origin": EVIL})
        if status not in (401, 403):
            wrong.append(f"{kind}, right token from {EVIL}: {status} {text[:160]}")
    assert not wrong, "\n".join(wrong)
    assert refused_for_csrf >= 3, "no session kind reached the CSRF check"


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p in WRITES if p in PRE_SESSION],
    ids=lambda v: str(v),
)
def test_a_route_that_opens_a_session_refuses_what_another_site_can_send(
    gateway: Gateway, sessions: Sessions, method: str, path: str
) -> None:
    for console in (Console(gateway.url), sessions.user):
        form = console.http.request(method, path, data={"email": "a@example.com"})
        assert form.status_code == 400 and "JSON" in form.text, form.text
        for origin in (EVIL, "null"):
            response = console.http.request(method, path, json={}, headers={"Origin": origin})
            assert response.status_code == 403, response.text
            assert "Cross-origin" in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p in WRITES if not p.startswith(API) and not _admin(p)],
    ids=lambda v: str(v),
)
def test_elsewhere_a_session_cookie_is_no_credential(
    sessions: Sessions, method: str, path: str
) -> None:
    for console in (sessions.operator, sessions.user):
        assert console.http.cookies.get(COOKIE)
        status, text = _send(console, method, path, {"X-CSRF-Token": console.csrf})
        assert status >= 400 and status != 500, (status, text[:200])
