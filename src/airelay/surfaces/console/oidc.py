"""Console sign-in through the operator's OpenID Connect provider (authorization code with
PKCE): ``/console/api/oidc/start`` sends the browser to the provider, ``.../callback`` takes
it back, signs the user in and returns to the console.

The state, nonce and code verifier travel in a short-lived encrypted, HttpOnly cookie
scoped to these two routes, so any instance can finish what another began. A provider
account is linked to the user it signed in first; it may be linked by e-mail only when the
provider says the address is verified. A user with two-factor sign-in still gives the code.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time

import orjson
from aiohttp import web

from airelay.errors import GatewayError
from airelay.state import AppState
from airelay.store import accounts
from airelay.store import settings as settings_repo
from airelay.surfaces.admin.settings import merged
from airelay.surfaces.console import session as sessions
from airelay.surfaces.console.accounts import oidc_enabled
from airelay.surfaces.console.oidc_client import (
    Identity,
    OidcError,
    authorization_url,
    discover,
    exchange,
    pkce_pair,
)
from airelay.surfaces.console.session import state_of

log = logging.getLogger(__name__)
FLOW_COOKIE = "airelay_oidc"
FLOW_PATH = "/console/api/oidc"
FLOW_SECONDS = 600


def _redirect_uri(state: AppState) -> str:
    return f"{state.settings.public_url}{FLOW_PATH}/callback"


def _enabled(state: AppState) -> None:
    if not oidc_enabled(state):
        raise GatewayError(404, "OpenID Connect sign-in is not configured on this gateway.")


async def start(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    _enabled(state)
    settings = state.settings
    assert settings.oidc_issuer and settings.oidc_client_id
    try:
        provider = await discover(state.http, settings.oidc_issuer)
    except OidcError as exc:
        raise GatewayError(502, f"OpenID Connect provider: {exc}") from exc
    flow_state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    url = authorization_url(
        provider, settings.oidc_client_id, _redirect_uri(state), flow_state, nonce, challenge
    )
    flow = orjson.dumps({"s": flow_state, "n": nonce, "v": verifier, "t": int(time.time())})
    response = _redirect(url)
    response.set_cookie(
        FLOW_COOKIE,
        state.box.encrypt(flow.decode()),
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        samesite="Lax",
        secure=sessions.secure_cookies(request, state),
    )
    return response


def _redirect(url: str) -> web.Response:
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


def _back(reason: str | None) -> web.Response:
    """To the console: its dashboard, or its sign-in page with why it failed."""
    response = _redirect("/console/" if reason is None else f"/console/#error={reason}")
    response.del_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    _enabled(state)
    settings = state.settings
    assert settings.oidc_issuer and settings.oidc_client_id
    flow = _flow(request, state)
    code = request.query.get("code")
    sent_state = request.query.get("state", "")
    if flow is None or not hmac.compare_digest(sent_state.encode(), flow["s"].encode()):
        return _back("oidc_state")
    if not code:
        return _back("oidc_denied")
    try:
        provider = await discover(state.http, settings.oidc_issuer)
        identity = await exchange(
            state.http,
            provider,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            redirect_uri=_redirect_uri(state),
            code=code,
            verifier=flow["v"],
            nonce=flow["n"],
        )
    except OidcError as exc:
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _back("oidc_failed")
    user = await _account(state, identity)
    if user is None:
        return _back("oidc_no_account")
    user_id, role, two_factor = user
    response = _back(None)
    await sessions.start(
        request,
        response,
        state,
        user_id=user_id,
        role=role,
        stage=sessions.PASSWORD if two_factor else sessions.FULL,
    )
    return response


def _flow(request: web.Request, state: AppState) -> dict[str, str] | None:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw or len(raw) > 2000:
        return None
    try:
        flow = orjson.loads(state.box.decrypt(raw))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(flow, dict) or time.time() - flow.get("t", 0) > FLOW_SECONDS:
        return None
    return flow


async def _account(state: AppState, identity: Identity) -> tuple[str, str, bool] | None:
    """(user id, role, two-factor on) of the provider account's user, linking or creating
    one where allowed; None when it may not sign in."""
    async with state.engine.begin() as conn:
        user_id = await accounts.oidc_user(conn, identity.subject)
        if user_id is None and identity.email and identity.email_verified:
            user_id = await accounts.user_by_email(conn, identity.email)
            if user_id is not None:
                await accounts.set_credentials(conn, user_id, oidc_subject=identity.subject)
                await accounts.mark_verified(conn, user_id)  # the provider vouches for it
        if user_id is None:
            stored = merged(await settings_repo.read(state.engine))
            if not (stored["features"]["registration_enabled"] and identity.email_verified):
                return None
            assert identity.email is not None
            user = await accounts.create_account(
                conn,
                email=identity.email,
                password_hash=None,
                oidc_subject=identity.subject,
                name=identity.name,
            )
            user_id = user["id"]
        row = await accounts.account_row(conn, user_id)
    if row is None or row["status"] != "active":
        return None
    await state.cache.refresh()
    return user_id, row["role"] or "user", bool(row["totp_enabled"])
