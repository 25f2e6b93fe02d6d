"""A fake OpenID Connect provider over real HTTP on loopback: discovery, an authorization
endpoint that signs in whoever the test says (no login page) and sends the browser back with
a code, a token endpoint that checks the client, the redirect URI and the PKCE verifier
(S256) and answers an ID token, and a userinfo endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .loopback import ThreadedApp

CLIENT_ID = "airelay-console"
CLIENT_SECRET = "oidc-client-secret-7f3a"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Grant:
    claims: dict[str, Any]
    redirect_uri: str
    challenge: str
    nonce: str


class FakeOidc(ThreadedApp):
    label = "FakeOidc"

    def __init__(self) -> None:
        super().__init__()
        # Who signs in at the next authorization: the userinfo claims (sub, email, ...);
        # the ID token carries only ``sub``, so the gateway reads the rest from userinfo.
        self.user: dict[str, Any] = {}
        self.token_requests: list[dict[str, str]] = []
        self._grants: dict[str, Grant] = {}
        self._userinfo_by_token: dict[str, dict[str, Any]] = {}

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return web.json_response({"error": "unauthorized_client"}, status=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.json_response({"error": "invalid_request"}, status=400)
        code = secrets.token_urlsafe(16)
        self._grants[code] = Grant(
            dict(self.user), q["redirect_uri"], q["code_challenge"], q.get("nonce", "")
        )
        back = {"code": code, "state": q.get("state", "")}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(back)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        grant = self._grants.pop(str(form.get("code")), None)
        if grant is None or form.get("client_id") != CLIENT_ID:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_client"}, status=401)
        verifier = str(form.get("code_verifier", ""))
        if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            **{k: v for k, v in grant.claims.items() if k in ("sub",)},
        }
        header = _b64url(json.dumps({"alg": "RS256", "kid": "test"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        access = secrets.token_urlsafe(16)
        self._userinfo_by_token[access] = grant.claims
        return web.json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "id_token": f"{header}.{payload}.{_b64url(b'not-checked')}",
                "expires_in": 300,
            }
        )

    async def _userinfo(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        claims = self._userinfo_by_token.get(token)
        if claims is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(claims)
