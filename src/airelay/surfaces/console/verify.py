"""E-mail verification (the ``features.email_verification`` setting): an account that signs
up while it is on gets a one-time link mailed to its address (valid a day) and may not
sign in until the link is opened; ``POST /console/api/verify-email/resend`` mails a new
one, answering the same whether or not the address has an account waiting (and throttled
like password reset); ``POST /console/api/verify-email`` spends the link's token.

The setting is accepted only where mail can be sent and the link built (SMTP and
``public_url``; ``surfaces/admin/settings.py``). Turned off, it stops asking: accounts that
never opened their link sign in like any other. A password-reset link also proves the
address (``reset``). As with reset links, the token rides in the URL fragment (sent to no
server) and only its SHA-256 is stored."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import msgspec
from aiohttp import web

from airelay import mailer
from airelay.errors import GatewayError
from airelay.security.keys import hash_key
from airelay.state import AppState
from airelay.store import accounts
from airelay.store.db import now
from airelay.surfaces.admin.common import decode
from airelay.surfaces.admin.settings import verification_possible
from airelay.surfaces.console.fields import Text, normal_email
from airelay.surfaces.console.session import check_origin, console_state, state_of
from airelay.surfaces.responses import json_response

TOKEN_SECONDS = 24 * 3600
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class VerifyRequest(msgspec.Struct):
    token: Token


class ResendRequest(msgspec.Struct):
    email: Text


def check_possible(state: AppState) -> None:
    """503 for a sign-up while the setting is on but the gateway restarted without SMTP or
    its public URL: the account could never verify (checked before it is made)."""
    if not verification_possible(state.settings):
        raise GatewayError(503, "E-mail verification is on but no mail server is configured.")


async def send_link(state: AppState, user_id: str, email: str) -> None:
    """A new token for the user, mailed (in the background) as a link."""
    token = secrets.token_urlsafe(32)
    async with state.engine.begin() as conn:
        await accounts.create_verification(conn, hash_key(token), user_id, TOKEN_SECONDS)
    link = f"{state.settings.public_url}/console/#verify={token}"
    text = (
        "An account on this gateway was opened with this e-mail address.\n\n"
        f"To confirm the address is yours, open this link within a day:\n{link}\n\n"
        "If it was not you, ignore this mail; the account cannot be used without it.\n"
    )
    mailer.send_later(state.settings, email, "Verify your e-mail address", text)


def unverified_refusal() -> GatewayError:
    """Sign-in of an account whose address is not verified yet (the password was right)."""
    return GatewayError(
        403,
        "Verify your e-mail address first: open the link we sent, or ask for a new one.",
        type_="email_unverified",
    )


def must_verify(stored: dict[str, Any], row: dict[str, Any]) -> bool:
    return bool(stored["features"].get("email_verification")) and not row["email_verified"]


async def resend(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    if not verification_possible(state.settings):  # the same for every address
        raise GatewayError(501, "E-mail verification is not configured on this gateway.")
    body = await decode(request, ResendRequest)
    email = normal_email(body.email)
    throttle = console_state(request).throttle
    await throttle.attempt(f"verify:{email}", request.remote)
    async with state.engine.connect() as conn:
        row = await accounts.login_row(conn, email)
    if row is not None and row["status"] == "active" and not row["email_verified"]:
        await send_link(state, row["id"], email)
    return json_response({"sent": True}, status=202)


async def confirm(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    body = await decode(request, VerifyRequest)
    async with state.engine.begin() as conn:
        user_id = await accounts.use_verification(conn, hash_key(body.token), now())
    if user_id is None:
        raise GatewayError(400, "This verification link is not valid, expired or used already.")
    return json_response({"verified": True})
