"""Fake OAuth 2.0 token endpoints on loopback, as the two clouds document them, counting the
tokens they hand out (a test checks a refresh came, and that calls never waited for one).

- ``FakeGoogleOAuth``: Google's ``token_uri`` for service accounts: a form POST with
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion``, a JWT signed
  RS256 with the account's private key (``iss`` the account, ``aud`` Google's token
  endpoint whatever ``token_uri`` says, as google-auth writes it, ``scope``); the fake
  verifies the signature with the public key of the accounts it knows and answers
  ``{"access_token", "expires_in", "token_type": "Bearer"}``, or
  ``{"error": "invalid_grant", "error_description"}`` with 400 as Google does.
- ``FakeEntra``: Microsoft Entra ID's ``/{tenant}/oauth2/v2.0/token`` (client credentials
  grant: ``client_id``, ``client_secret``, ``scope``); errors as AADSTS
  ``{"error", "error_description"}``.

Either serves HTTPS instead when given a TLS context before it starts (``tls``: a
certificate of a test CA), and its URLs say so.

``expires_in`` is settable (a short-lived token makes the gateway refresh it), and so is a
scripted failure of the next requests of one account or application (``fail_with``); the
requests are counted per account or application too (``requests_of``), so that a refresh
another test left running counts for that test only.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from .loopback import ThreadedApp

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
COGNITIVE_SERVICES = "https://cognitiveservices.azure.com/.default"


@dataclass(frozen=True)
class ServiceAccount:
    """A service account's JSON key (``key_json``, one line, as a channel holds it)."""

    email: str
    key_json: str
    public_pem: str
    private_key_id: str


class _TokenServer(ThreadedApp):
    """Issued tokens (with their expiry, wall clock) and the requests counted."""

    def __init__(self) -> None:
        super().__init__()
        self.expires_in = 3600
        self.token_requests = 0
        self.issued: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def fail_with(self, who: str, status: int, document: dict[str, Any], times: int = 1) -> None:
        """The next ``times`` requests of ``who`` (an account's email, an application's
        client id) are answered ``status`` with ``document``."""
        with self._lock:
            self._failures.setdefault(who, []).extend([(status, document)] * times)

    @property
    def origin(self) -> str:
        """``https://`` when served over TLS (``tls`` set before start)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def requests_of(self, who: str) -> int:
        return self._counts.get(who, 0)

    def valid(self, token: str) -> bool:
        """A token this server issued that has not expired."""
        expires = self.issued.get(token)
        return expires is not None and time.time() < expires

    def _issue(self, prefix: str) -> web.Response:
        token = f"{prefix}.{secrets.token_urlsafe(24)}"
        with self._lock:
            self.issued[token] = time.time() + self.expires_in
        body = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        return web.json_response(body)

    def _scripted(self, who: str) -> web.Response | None:
        with self._lock:
            self.token_requests += 1
            self._counts[who] = self._counts.get(who, 0) + 1
            failures = self._failures.get(who)
            if not failures:
                return None
            status, document = failures.pop(0)
        return web.Response(
            status=status, body=orjson.dumps(document), content_type="application/json"
        )


class FakeGoogleOAuth(_TokenServer):
    """``with FakeGoogleOAuth() as oauth: oauth.service_account()`` a key whose
    ``token_uri`` is this server."""

    label = "FakeGoogleOAuth"

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, ServiceAccount] = {}

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def service_account(self, project: str = "fake-project") -> ServiceAccount:
        """A new account with a fresh RSA key, known to this server."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        key_id = secrets.token_hex(20)
        email = f"relay-{secrets.token_hex(4)}@{project}.iam.gserviceaccount.com"
        info = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "universe_domain": "googleapis.com",
        }
        account = ServiceAccount(email, orjson.dumps(info).decode(), public, key_id)
        self.accounts[email] = account
        return account

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assertion = str(form.get("assertion", ""))
        try:
            unverified = jwt.decode(assertion, verify=False)
        except ValueError:
            unverified = {}
        failure = self._scripted(str(unverified.get("iss")))
        if failure is not None:
            return failure
        if form.get("grant_type") != JWT_BEARER:
            return _error(400, "unsupported_grant_type", "Invalid grant_type.")
        if not unverified:
            return _error(400, "invalid_grant", "Invalid JWT: malformed.")
        account = self.accounts.get(str(unverified.get("iss")))
        if account is None:
            return _error(400, "invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(assertion, certs=account.public_pem, audience=GOOGLE_TOKEN_AUDIENCE)
        except ValueError:
            return _error(400, "invalid_grant", "Invalid JWT Signature.")
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return _error(400, "invalid_scope", "Invalid OAuth scope.")
        return self._issue("ya29.fake")


class FakeEntra(_TokenServer):
    """``with FakeEntra() as entra:`` ``entra.authority`` for an azure key's JSON; the
    application ``(tenant, client_id, client_secret)`` in ``apps``."""

    label = "FakeEntra"

    def __init__(self) -> None:
        super().__init__()
        self.apps: set[tuple[str, str, str]] = set()

    @property
    def authority(self) -> str:
        return self.origin

    def application(self) -> tuple[str, str, str]:
        app = (
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            f"{secrets.token_hex(4)}-aaaa-bbbb-cccc-{secrets.token_hex(6)}",
            f"Q~{secrets.token_urlsafe(30)}",
        )
        self.apps.add(app)
        return app

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        failure = self._scripted(str(form.get("client_id")))
        if failure is not None:
            return failure
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type")
        if form.get("scope") != COGNITIVE_SERVICES:
            return _error(400, "invalid_scope", "AADSTS70011: The provided scope is not valid.")
        app = (request.match_info["tenant"], str(form.get("client_id")), form.get("client_secret"))
        if app not in self.apps:
            return _error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0000",
            )
        return self._issue("eyJ0eXAiOiJKV1Qi.fake")


def _error(status: int, error: str, description: str) -> web.Response:
    body = {"error": error, "error_description": description}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
