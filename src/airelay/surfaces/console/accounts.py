"""``/console/api``: sign-up, sign-in (password, then TOTP when enabled; or the root
management key, as an operator), sign-out, who am I, password change, TOTP set-up."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pyotp
from aiohttp import web

from airelay.billing.accounts import account_view
from airelay.catalog import Name
from airelay.errors import GatewayError
from airelay.money import units_to_usd
from airelay.relay.auth import authenticate_admin
from airelay.security.keys import MGMT_KEY_PREFIX, hash_key
from airelay.security.passwords import check_strength, hash_password, verify_password
from airelay.state import AppState
from airelay.store import accounts
from airelay.store import settings as settings_repo
from airelay.surfaces.admin.common import decode
from airelay.surfaces.admin.settings import merged
from airelay.surfaces.console import session as sessions
from airelay.surfaces.console import verify
from airelay.surfaces.console.fields import Text, normal_email
from airelay.surfaces.console.session import PASSWORD, Session, check_origin, current, state_of
from airelay.surfaces.responses import json_response

Code = Annotated[str, msgspec.Meta(max_length=40)]


class SignUp(msgspec.Struct):
    email: Text
    password: Text
    name: Name | None = None


class SignIn(msgspec.Struct):
    email: Text
    password: Text


class AdminSignIn(msgspec.Struct):
    key: Text


class SecondFactor(msgspec.Struct):
    code: Code


class PasswordChange(msgspec.Struct):
    current_password: Text
    new_password: Text


def _password(password: str) -> str:
    problem = check_strength(password)
    if problem:
        raise GatewayError(400, problem)
    return password


async def config(request: web.Request) -> web.StreamResponse:
    """What the sign-in page offers (sign-up, password reset, OIDC) and what the console
    shows everyone: the name and logo, the announcement banner, and the operator's top-up
    instructions where there is no Stripe checkout. Public: nothing here is secret."""
    state = state_of(request)
    stored = merged(await settings_repo.read(state.engine))
    settings = state.settings
    return json_response(
        {
            "system_name": stored["system_name"],
            "registration_enabled": bool(stored["features"]["registration_enabled"]),
            "email_verification": bool(stored["features"]["email_verification"]),
            "password_reset": bool(settings.smtp_host and settings.public_url),
            "oidc": {"name": settings.oidc_name} if oidc_enabled(state) else None,
            "stripe": bool(settings.stripe_api_key),
            "logo_url": stored["logo_url"],
            "announcement": stored["announcement"],
            "topup_instructions": stored["topup_instructions"],
        }
    )


def oidc_enabled(state: AppState) -> bool:
    s = state.settings
    return bool(s.oidc_issuer and s.oidc_client_id and s.public_url)


async def sign_up(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    body = await decode(request, SignUp)
    stored = merged(await settings_repo.read(state.engine))
    if not stored["features"]["registration_enabled"]:
        raise GatewayError(403, "Sign-up is closed on this gateway; ask its operator.")
    email = normal_email(body.email)
    password_hash = await hash_password(_password(body.password))
    verifying = bool(stored["features"]["email_verification"])
    if verifying:
        verify.check_possible(state)
    try:
        async with state.engine.begin() as conn:
            user = await accounts.create_account(
                conn,
                email=email,
                password_hash=password_hash,
                name=body.name,
                email_verified=not verifying,
            )
    except accounts.EmailTaken:
        raise GatewayError(409, "An account with this e-mail address exists.") from None
    await state.cache.refresh()  # the new user's keys must find it
    if verifying:  # no session until the mailed link is opened
        await verify.send_link(state, user["id"], email)
        return json_response({"verification_required": True, "email": email}, status=201)
    response = json_response({}, status=201)
    csrf = await sessions.start(request, response, state, user_id=user["id"], role="user")
    response.body = msgspec.json.encode(await _me(state, user["id"], "user", csrf))
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    check_origin(request)
    body = await decode(request, SignIn)
    email = body.email.strip().lower()
    throttle = sessions.console_state(request).throttle
    await throttle.attempt(email, request.remote)
    async with state.engine.connect() as conn:
        row = await accounts.login_row(conn, email)
    stored_hash = row["password_hash"] if row else None
    if not await verify_password(stored_hash, body.password) or row is None:
        raise GatewayError(401, "Wrong e-mail address or password.")
    await throttle.succeeded(email, request.remote)  # the password was right
    if row["status"] != "active":
        raise GatewayError(403, "This account is disabled.")
    if verify.must_verify(merged(await settings_repo.read(state.engine)), row):
        raise verify.unverified_refusal()
    two_factor = bool(row["totp_enabled"])
    response = json_response({})
    csrf = await sessions.start(
        request,
        response,
        state,
        user_id=row["id"],
        role=row["role"],
        stage=PASSWORD if two_factor else sessions.FULL,
    )
    if two_factor:
        body_out: dict[str, Any] = {"two_factor_required": True, "csrf_token": csrf}
    else:
        body_out = await _me(state, row["id"], row["role"], csrf)
    response.body = msgspec.json.encode(body_out)
    return response


async def second_factor(request: web.Request) -> web.StreamResponse:
    """The TOTP code after the password: a new, full session."""
    state = state_of(request)
    pending = await current(request, state, stage=PASSWORD)
    body = await decode(request, SecondFactor)
    assert pending.user_id is not None
    throttle = sessions.console_state(request).throttle
    subject = f"totp:{pending.user_id}"
    await throttle.attempt(subject, request.remote)
    async with state.engine.connect() as conn:
        row = await accounts.account_row(conn, pending.user_id)
    if row is None or not row["totp_secret"] or not await _second_factor_ok(state, row, body.code):
        raise GatewayError(401, "Wrong two-factor code.")
    await throttle.succeeded(subject, request.remote)
    response = json_response({})
    csrf = await sessions.start(request, response, state, user_id=row["id"], role=pending.role)
    response.body = msgspec.json.encode(await _me(state, row["id"], pending.role, csrf))
    return response


def management_key_subject(address: str | None) -> str:
    """What management-key guesses are counted against: the address they come from (a few
    tries a window each, as for an account). One count shared by every address would let
    anyone lock the operator out of the console with a few wrong keys."""
    return f"management-key:{address or ''}"


async def admin_sign_in(request: web.Request) -> web.StreamResponse:
    """The root management key signs in as an operator (no user of its own)."""
    state = state_of(request)
    check_origin(request)
    body = await decode(request, AdminSignIn)
    throttle = sessions.console_state(request).throttle
    subject = management_key_subject(request.remote)
    await throttle.attempt(subject, request.remote)
    key = body.key.strip()
    try:
        if not key.startswith(MGMT_KEY_PREFIX):
            raise GatewayError(401, "Invalid management key.")
        authenticate_admin(state.cache.current, key)
    except GatewayError:
        raise GatewayError(401, "Invalid management key.") from None
    await throttle.succeeded(subject, request.remote)
    response = json_response({})
    csrf = await sessions.start(
        request, response, state, user_id=None, role="operator", admin_key_hash=hash_key(key)
    )
    response.body = msgspec.json.encode(await _me(state, None, "operator", csrf))
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    # Either stage's session (one waiting for its second factor too) ends only with its
    # CSRF token; without a live session there is nothing to end.
    for stage in (sessions.FULL, PASSWORD):
        try:
            await current(request, state, stage=stage, write=True)
            break
        except GatewayError as exc:
            if exc.status == 403:
                raise
    response = json_response({"signed_out": True})
    await sessions.end(request, response, state)
    return response


async def me(request: web.Request) -> web.StreamResponse:
    """The signed-in account; for a session waiting for its second factor (a sign-in that
    came back from the OpenID Connect provider) only that, and its CSRF token."""
    state = state_of(request)
    try:
        session = await current(request, state)
    except GatewayError as exc:
        if exc.status != 401:
            raise
        pending = await current(request, state, stage=PASSWORD)
        return json_response({"two_factor_required": True, "csrf_token": pending.csrf_token})
    return json_response(await _me(state, session.user_id, session.role, session.csrf_token))


async def _me(state: AppState, user_id: str | None, role: str, csrf: str) -> dict[str, Any]:
    if user_id is None:
        return {"user": None, "role": role, "two_factor": False, "csrf_token": csrf}
    async with state.engine.connect() as conn:
        row = await accounts.account_row(conn, user_id)
    if row is None:
        raise GatewayError(401, "Not signed in.")
    view = await account_view(state.engine, state.wallets, user_id)
    return {
        "user": {
            "id": row["id"],
            "email": row["email"],
            "name": row["name"],
            "group": row["group"],
            "balance": units_to_usd(view.balance),
            "total_usage": units_to_usd(view.total_spent),
        },
        "role": role,
        "two_factor": bool(row["totp_enabled"]),
        "csrf_token": csrf,
    }


async def change_password(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    session = _user_session(await current(request, state))
    body = await decode(request, PasswordChange)
    throttle = sessions.console_state(request).throttle
    subject = f"password:{session.user_id}"
    await throttle.attempt(subject, request.remote)
    async with state.engine.connect() as conn:
        row = await accounts.account_row(conn, session.user_id)
    if row is None or not await verify_password(row["password_hash"], body.current_password):
        raise GatewayError(403, "The current password is wrong.")
    await throttle.succeeded(subject, request.remote)
    new_hash = await hash_password(_password(body.new_password))
    async with state.engine.begin() as conn:
        await accounts.set_credentials(conn, session.user_id, password_hash=new_hash)
        await accounts.close_user_sessions(conn, session.user_id, keep=session.id)
    return json_response({"changed": True})


def _user_session(session: Session) -> Any:
    if session.user_id is None:
        raise GatewayError(403, "This needs a user's session, not the management key's.")
    return session


RECOVERY_CODES = 10


def _recovery_hash(code: str) -> str:
    return hash_key("".join(code.split()).replace("-", "").lower())


def new_recovery_codes() -> list[str]:
    """Ten one-time codes of 80 random bits each, ``xxxxx-xxxxx-xxxxx-xxxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(10)
        codes.append("-".join(raw[i : i + 5] for i in range(0, 20, 5)))
    return codes


async def _second_factor_ok(state: AppState, row: dict[str, Any], code: str) -> bool:
    """A TOTP code not spent before (RFC 6238 section 5.2: a verifier accepts a code once),
    or else one of the user's recovery codes (spent by this use)."""
    step = _totp_step(state, row["totp_secret"], code)
    if step is not None:
        async with state.engine.begin() as conn:
            return await accounts.spend_totp_step(conn, row["id"], step)
    if len(code) < 20:
        return False
    async with state.engine.begin() as conn:
        return await accounts.use_recovery_code(conn, row["id"], _recovery_hash(code))


def _totp_step(state: AppState, encrypted: str, code: str) -> int | None:
    """The time step (this one, or one either side for clock drift) whose code ``code`` is,
    or None."""
    totp = pyotp.TOTP(state.box.decrypt(encrypted))
    typed = code.strip().replace(" ", "")
    step = totp.timecode(datetime.now(UTC))
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), typed):
            return candidate
    return None


def _totp_ok(state: AppState, encrypted: str, code: str) -> bool:
    return _totp_step(state, encrypted, code) is not None


async def totp_setup(request: web.Request) -> web.StreamResponse:
    """A new secret, kept (not yet enabled) until a code from it is shown to ``enable``."""
    state = state_of(request)
    session = _user_session(await current(request, state))
    secret = pyotp.random_base32()
    async with state.engine.begin() as conn:
        row = await accounts.account_row(conn, session.user_id)
        if row is not None and row["totp_enabled"]:
            raise GatewayError(409, "Two-factor sign-in is already on; turn it off first.")
        await accounts.set_credentials(
            conn,
            session.user_id,
            totp_secret=state.box.encrypt(secret),
            totp_enabled=0,
            totp_last_step=None,  # a new secret's codes owe nothing to the old one's
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=session.email or "", issuer_name="airelay")
    return json_response({"secret": secret, "otpauth_uri": uri})


async def totp_enable(request: web.Request) -> web.StreamResponse:
    return await _totp_switch(request, enabled=True)


async def totp_disable(request: web.Request) -> web.StreamResponse:
    return await _totp_switch(request, enabled=False)


async def _totp_switch(request: web.Request, *, enabled: bool) -> web.StreamResponse:
    state = state_of(request)
    session = _user_session(await current(request, state))
    body = await decode(request, SecondFactor)
    async with state.engine.connect() as conn:
        row = await accounts.account_row(conn, session.user_id)
    if row is None or not row["totp_secret"]:
        raise GatewayError(409, "Set up two-factor sign-in first.")
    if bool(row["totp_enabled"]) == enabled:
        raise GatewayError(409, f"Two-factor sign-in is already {'on' if enabled else 'off'}.")
    if not _totp_ok(state, row["totp_secret"], body.code):
        raise GatewayError(400, "Wrong two-factor code.")
    values: dict[str, Any] = {"totp_enabled": int(enabled)}
    if not enabled:
        values["totp_secret"] = None
    # Turned on: a new set of recovery codes, shown this once; off: none.
    codes = new_recovery_codes() if enabled else []
    async with state.engine.begin() as conn:
        await accounts.set_credentials(conn, session.user_id, **values)
        await accounts.replace_recovery_codes(
            conn, session.user_id, [_recovery_hash(code) for code in codes]
        )
    answer: dict[str, Any] = {"two_factor": enabled}
    if enabled:
        answer["recovery_codes"] = codes
    return json_response(answer)


# The bodies, for the OpenAPI document (the reset ones are in ``reset``).
STRUCTS: tuple[type[msgspec.Struct], ...] = (
    SignUp,
    SignIn,
    AdminSignIn,
    SecondFactor,
    PasswordChange,
)
