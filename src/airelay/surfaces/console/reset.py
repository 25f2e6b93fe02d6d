"""Password reset by e-mail: ``POST /console/api/password-reset`` mails a one-time link
(valid an hour) to an account's address, answering the same whether or not the address
has an account; ``.../confirm`` sets the new password and ends every session of the user.

The link is built from the ``public_url`` setting, never from the request's Host header
(which a caller chooses); its token rides in the URL fragment, which browsers send to no
server. Only the token's SHA-256 is stored."""

from __future__ import annotations

import secrets
from typing import Annotated

import msgspec
from aiohttp import web

from airelay import mailer
from airelay.errors import GatewayError
from airelay.security.keys import hash_key
from airelay.security.passwords import check_strength, hash_password
from airelay.state import AppState
from airelay.store import accounts
from airelay.store.db import now
from airelay.surfaces.admin.common import decode
from airelay.surfaces.console.fields import Text, normal_email
from airelay.surfaces.console.session import check_origin, console_state, state_of
from airelay.surfaces.responses import json_response

TOKEN_SECONDS = 3600
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ResetRequest(msgspec.Struct):
    email: Text


class ResetConfirm(msgspec.Struct):
    token: Token
    new_password: Text


def _enabled(state: AppState) -> bool:
    return bool(mailer.mail_configured(state.settings) and state.settings.public_url)


async def request_reset(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    if not _enabled(state):
        raise GatewayError(501, "Password reset by e-mail is not configured on this gateway.")
    body = await decode(request, ResetRequest)
    email = normal_email(body.email)
    # Each request counts against the address and the caller: no mail flood through us.
    throttle = console_state(request).throttle
    await throttle.attempt(f"reset:{email}", request.remote)
    # Any active user with this address: one the operator made through the management API
    # (no password yet) sets their first password this way.
    async with state.engine.connect() as conn:
        user_id = await accounts.user_by_email(conn, email)
        row = await accounts.account_row(conn, user_id) if user_id else None
    if row is not None and row["status"] == "active":
        token = secrets.token_urlsafe(32)
        async with state.engine.begin() as conn:
            await accounts.create_reset(conn, hash_key(token), row["id"], TOKEN_SECONDS)
        link = f"{state.settings.public_url}/console/#reset={token}"
        text = (
            "Someone asked to reset the password of your account on this gateway.\n\n"
            f"To choose a new password, open this link within an hour:\n{link}\n\n"
            "If it was not you, ignore this mail; your password stays as it is.\n"
        )
        mailer.send_later(state.settings, email, "Reset your password", text)
    return json_response({"sent": True}, status=202)


async def confirm_reset(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    body = await decode(request, ResetConfirm)
    problem = check_strength(body.new_password)
    if problem:
        raise GatewayError(400, problem)
    new_hash = await hash_password(body.new_password)
    async with state.engine.begin() as conn:
        user_id = await accounts.use_reset(conn, hash_key(body.token), now())
        if user_id is None:
            raise GatewayError(400, "This reset link is not valid, expired or used already.")
        await accounts.set_credentials(conn, user_id, password_hash=new_hash)
        await accounts.mark_verified(conn, user_id)  # the link reached the address
        await accounts.close_user_sessions(conn, user_id)
    return json_response({"changed": True})
