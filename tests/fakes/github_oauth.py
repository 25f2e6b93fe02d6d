"""A fake GitHub over real HTTP on loopback, as GitHub documents its OAuth app web flow and
REST API: ``/login/oauth/authorize`` signs in whoever the test says (no login page) and sends
the browser back with a code and the state; ``/login/oauth/access_token`` checks the client,
its secret, the redirect URI and the PKCE verifier (S256), answers JSON only when asked with
``Accept: application/json`` (form-encoded otherwise) and a refused code with HTTP 200 and
an ``error`` member; the API (under ``/api/v3``, as on GitHub Enterprise Server, so the web
and API base URLs differ) answers ``GET /user`` and ``GET /user/emails`` for a bearer token
that was granted the ``user:email`` scope."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .loopback import ThreadedApp

CLIENT_ID = "Iv1.airelayconsole01"
CLIENT_SECRET = "github-client-secret-5c1e"
API_PREFIX = "/api/v3"


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass
class Account:
    """A GitHub account: the ``/user`` fields the gateway reads and its addresses."""

    id: int
    login: str
    name: str | None = None
    emails: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def with_primary(cls, email: str, *, verified: bool = True) -> Account:
        number = secrets.randbelow(10**9) + 1
        return cls(
            id=number,
            login=f"octo{number}",
            emails=[{"email": email, "primary": True, "verified": verified, "visibility": None}],
        )


@dataclass
class _Grant:
    account: Account
    redirect_uri: str
    challenge: str
    scopes: list[str]


class FakeGitHub(ThreadedApp):
    label = "FakeGitHub"

    def __init__(self) -> None:
        super().__init__()
        self.account: Account | None = None  # who signs in at the next authorization
        self.token_requests: list[dict[str, str]] = []
        self.token_accept: list[str] = []
        self.api_user_agents: list[str] = []
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.web_url}{API_PREFIX}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/login/oauth/authorize", self._authorize)
        app.router.add_post("/login/oauth/access_token", self._access_token)
        app.router.add_get(f"{API_PREFIX}/user", self._user)
        app.router.add_get(f"{API_PREFIX}/user/emails", self._emails)
        return app

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != CLIENT_ID:
            return web.Response(status=404, text="Not Found")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="PKCE S256 expected by this fake")
        back = q["redirect_uri"]
        if self.account is None:  # the user pressed Cancel
            denied = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "state": q.get("state", ""),
            }
            raise web.HTTPFound(f"{back}?{urlencode(denied)}")
        code = secrets.token_hex(10)
        self._grants[code] = _Grant(
            self.account, back, q["code_challenge"], q.get("scope", "").split()
        )
        raise web.HTTPFound(f"{back}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    async def _access_token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        accept = request.headers.get("Accept", "")
        self.token_accept.append(accept)
        grant = self._grants.pop(form.get("code", ""), None)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            answer: dict[str, str] = {"error": "incorrect_client_credentials"}
        elif grant is None:
            answer = {"error": "bad_verification_code"}
        elif form.get("redirect_uri") != grant.redirect_uri:
            answer = {"error": "redirect_uri_mismatch"}
        elif _s256(form.get("code_verifier", "")) != grant.challenge:
            answer = {"error": "invalid_grant"}  # PKCE
        else:
            token = f"gho_{secrets.token_hex(18)}"
            self._tokens[token] = grant
            answer = {
                "access_token": token,
                "scope": ",".join(grant.scopes),
                "token_type": "bearer",
            }
        if "application/json" in accept:
            return web.json_response(answer)
        return web.Response(
            text=urlencode(answer), content_type="application/x-www-form-urlencoded"
        )

    def _grant(self, request: web.Request) -> _Grant:
        self.api_user_agents.append(request.headers.get("User-Agent", ""))
        if not request.headers.get("User-Agent"):
            raise web.HTTPForbidden(text="Request forbidden by administrative rules.")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = self._tokens.get(token)
        if grant is None:
            raise web.HTTPUnauthorized(
                text='{"message": "Bad credentials"}', content_type="application/json"
            )
        return grant

    async def _user(self, request: web.Request) -> web.Response:
        account = self._grant(request).account
        public = next((e["email"] for e in account.emails if e.get("visibility") == "public"), None)
        return web.json_response(
            {"login": account.login, "id": account.id, "name": account.name, "email": public}
        )

    async def _emails(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if "user:email" not in grant.scopes and "user" not in grant.scopes:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(grant.account.emails)
