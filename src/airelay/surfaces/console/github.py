"""Console sign-in with GitHub (``AIRELAY_OIDC_ISSUER=github``): GitHub speaks OAuth 2.0
without OpenID Connect (no discovery document, no ID token), so this preset knows its
endpoints and reads who signed in from its REST API instead.

The flow is the one the OpenID Connect sign-in runs (state and PKCE S256 in the same
encrypted cookie, the same callback): the browser goes to ``<github>/login/oauth/authorize``
with the ``read:user user:email`` scopes, the code is traded at
``<github>/login/oauth/access_token`` (asked for JSON: GitHub answers form-encoded
otherwise, and answers a refused code with 200 and an ``error`` member), and the account is
``GET <api>/user`` (its numeric id: a login can be renamed and taken by someone else) and
``GET <api>/user/emails``. Only the primary address, and only when GitHub marks it
verified, may link or create an account, as OpenID Connect's ``email_verified`` does.

Both base URLs are settings: GitHub Enterprise Server (``https://HOST`` and
``https://HOST/api/v3``), and tests that point them at a fake GitHub on loopback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from airelay import __version__
from airelay.surfaces.console.oidc_client import TIMEOUT, Identity, OidcError

log = logging.getLogger(__name__)

# The value of ``oidc_issuer`` that selects this preset.
PRESET = "github"
SCOPES = "read:user user:email"
API_VERSION = "2022-11-28"


def _api_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": f"airelay/{__version__}",  # GitHub's API refuses requests without one
    }


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    body = await response.read()
    if response.status != 200:
        raise OidcError(f"{what} answered HTTP {response.status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OidcError(f"{what} answered no JSON") from exc


@dataclass(frozen=True, slots=True)
class GitHub:
    """GitHub (or a GitHub Enterprise Server) as the console's sign-in provider."""

    web_url: str  # https://github.com
    api_url: str  # https://api.github.com
    client_id: str
    client_secret: str | None

    def authorization_url(self, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        """Where the browser goes to sign in; ``nonce`` has no place in plain OAuth 2.0 (it
        guards an ID token, which GitHub does not issue)."""
        del nonce
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.web_url.rstrip('/')}/login/oauth/authorize?{urlencode(query)}"

    async def identity(
        self,
        http: aiohttp.ClientSession,
        *,
        redirect_uri: str,
        code: str,
        verifier: str,
        nonce: str,
    ) -> Identity:
        """Trade the code for an access token and read the GitHub account it belongs to."""
        del nonce
        try:
            token = await self._token(http, redirect_uri, code, verifier)
            headers = _api_headers(token)
            api = self.api_url.rstrip("/")
            async with http.get(f"{api}/user", headers=headers, timeout=TIMEOUT) as response:
                user = await _json(response, "GitHub's user endpoint")
            async with http.get(f"{api}/user/emails", headers=headers, timeout=TIMEOUT) as response:
                emails = await _emails(response)
        except aiohttp.ClientError as exc:
            raise OidcError(f"GitHub is unreachable: {type(exc).__name__}") from exc
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise OidcError("GitHub's user endpoint named no account id")
        primary = next((e for e in emails if e.get("primary") is True), None)
        address = primary.get("email") if primary else None
        name = user.get("name") or user.get("login")
        return Identity(
            subject=f"{self.web_url.rstrip('/')} {user['id']}",
            email=address.strip().lower() if isinstance(address, str) and address else None,
            email_verified=bool(primary and primary.get("verified") is True and address),
            name=name if isinstance(name, str) else None,
        )

    async def _token(
        self, http: aiohttp.ClientSession, redirect_uri: str, code: str, verifier: str
    ) -> str:
        form = {
            "client_id": self.client_id,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        url = f"{self.web_url.rstrip('/')}/login/oauth/access_token"
        headers = {"Accept": "application/json", "User-Agent": f"airelay/{__version__}"}
        async with http.post(url, data=form, headers=headers, timeout=TIMEOUT) as response:
            answer = await _json(response, "GitHub's token endpoint")
        if not isinstance(answer, dict):
            raise OidcError("GitHub's token endpoint answered no JSON object")
        if "error" in answer:
            # e.g. bad_verification_code, incorrect_client_credentials: named, never the code.
            raise OidcError(f"GitHub refused the code: {str(answer['error'])[:100]}")
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise OidcError("GitHub's token endpoint answered no access token")
        return access


async def _emails(response: aiohttp.ClientResponse) -> list[dict[str, Any]]:
    """The account's addresses; none when the token may not read them (a GitHub App
    without the e-mail permission answers 403 or 404): the account can then only sign in
    where it is linked already."""
    if response.status in (403, 404):
        await response.read()
        log.warning("GitHub sign-in: the account's e-mail addresses cannot be read")
        return []
    emails = await _json(response, "GitHub's e-mails endpoint")
    if not isinstance(emails, list):
        raise OidcError("GitHub's e-mails endpoint answered no list")
    return [e for e in emails if isinstance(e, dict)]
