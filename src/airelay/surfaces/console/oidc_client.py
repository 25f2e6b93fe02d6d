"""The OpenID Connect side of console sign-in: discovery, PKCE (S256), the code exchange,
and the claims of the ID token.

The ID token is read without checking its signature: it comes straight from the provider's
token endpoint over the connection we opened, which OpenID Connect Core (3.1.3.7) accepts in
place of a signature check; its issuer, audience, expiry and nonce are checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)
DISCOVERY_SECONDS = 3600.0


class OidcError(Exception):
    """The provider could not be used, or its answer does not hold."""


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str  # "<issuer> <sub>": unique across providers
    email: str | None
    email_verified: bool
    name: str | None


_discovered: dict[str, tuple[float, Provider]] = {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


async def _json(response: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    body = await response.read()
    if response.status != 200:
        raise OidcError(f"{what} answered HTTP {response.status}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OidcError(f"{what} answered no JSON") from exc
    if not isinstance(data, dict):
        raise OidcError(f"{what} answered no JSON object")
    return data


async def discover(http: aiohttp.ClientSession, issuer: str) -> Provider:
    """The provider's endpoints from its discovery document (kept an hour)."""
    issuer = issuer.rstrip("/")
    cached = _discovered.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
        return cached[1]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        async with http.get(url, timeout=TIMEOUT) as response:
            data = await _json(response, "the discovery document")
    except aiohttp.ClientError as exc:
        raise OidcError(f"the provider is unreachable: {type(exc).__name__}") from exc
    try:
        provider = Provider(
            issuer=str(data["issuer"]).rstrip("/"),
            authorization_endpoint=str(data["authorization_endpoint"]),
            token_endpoint=str(data["token_endpoint"]),
            userinfo_endpoint=data.get("userinfo_endpoint"),
        )
    except KeyError as exc:
        raise OidcError(f"the discovery document lacks {exc}") from exc
    if provider.issuer != issuer:
        raise OidcError("the discovery document names another issuer")
    _discovered[issuer] = (time.monotonic(), provider)
    return provider


def authorization_url(
    provider: Provider, client_id: str, redirect_uri: str, state: str, nonce: str, challenge: str
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    return provider.authorization_endpoint + separator + urlencode(query)


async def exchange(
    http: aiohttp.ClientSession,
    provider: Provider,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code: str,
    verifier: str,
    nonce: str,
) -> Identity:
    """Trade the code for tokens and read who signed in."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    try:
        async with http.post(provider.token_endpoint, data=form, timeout=TIMEOUT) as response:
            tokens = await _json(response, "the token endpoint")
        claims = _claims(str(tokens.get("id_token", "")))
        _check(claims, provider.issuer, client_id, nonce)
        access = tokens.get("access_token")
        if "email" not in claims and provider.userinfo_endpoint and isinstance(access, str):
            headers = {"Authorization": f"Bearer {access}"}
            async with http.get(
                provider.userinfo_endpoint, headers=headers, timeout=TIMEOUT
            ) as response:
                info = await _json(response, "the userinfo endpoint")
            if info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
    except aiohttp.ClientError as exc:
        raise OidcError(f"the provider is unreachable: {type(exc).__name__}") from exc
    email = claims.get("email")
    return Identity(
        subject=f"{provider.issuer} {claims['sub']}",
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=claims.get("email_verified") is True,
        name=claims.get("name") if isinstance(claims.get("name"), str) else None,
    )


def _claims(id_token: str) -> dict[str, Any]:
    parts = id_token.split(".")
    if len(parts) != 3:
        raise OidcError("the token endpoint answered no ID token")
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise OidcError("the ID token cannot be read") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("sub"), str):
        raise OidcError("the ID token names no subject")
    return payload


def _check(claims: dict[str, Any], issuer: str, client_id: str, nonce: str) -> None:
    if str(claims.get("iss", "")).rstrip("/") != issuer:
        raise OidcError("the ID token is from another issuer")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise OidcError("the ID token is for another client")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires < time.time():
        raise OidcError("the ID token has expired")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError("the ID token's nonce does not match")
