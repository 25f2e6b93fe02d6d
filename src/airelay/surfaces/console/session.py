"""Console sessions: an opaque secret in an HttpOnly, SameSite=Lax cookie (Secure when the
console is served over HTTPS), stored only as its SHA-256, and a CSRF token per session.

Every state-changing request of a session must carry that token in ``X-CSRF-Token`` (a page
of another site can neither read it nor set the header without a CORS preflight we never
grant); the requests that open a session must be JSON and, when the browser names its
``Origin``, come from this host. Each sign-in (and each step up from password to second
factor) issues a new session id: a session fixed before sign-in is worth nothing after.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from airelay.errors import GatewayError
from airelay.security.keys import hash_key, same_hash
from airelay.state import STATE, AppState
from airelay.store import accounts
from airelay.store.db import now
from airelay.surfaces.console.throttle import LoginThrottle, MemoryThrottle

COOKIE = "airelay_session"
SESSION_SECONDS = 7 * 24 * 3600
# Between the password and the second factor.
PENDING_SECONDS = 600
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL, PASSWORD = "full", "password"


@dataclass
class ConsoleState:
    """What the console keeps for the process."""

    throttle: LoginThrottle = field(default_factory=MemoryThrottle)


CONSOLE = web.AppKey("airelay_console", ConsoleState)


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the stored id (SHA-256 of the cookie)
    user_id: str | None  # None: the root management key's session
    role: str  # user, operator or viewer
    stage: str
    csrf_token: str
    email: str | None


def console_state(request: web.Request) -> ConsoleState:
    return request.app[CONSOLE]


def check_origin(request: web.Request) -> None:
    """A state-changing request must be JSON and, if the browser says where it comes from,
    come from this host (a cross-site form can send neither)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc != request.host:
            raise GatewayError(403, "Cross-origin request refused.")
    elif origin == "null":
        raise GatewayError(403, "Cross-origin request refused.")
    if request.content_type != "application/json":
        raise GatewayError(400, "Console requests must be JSON (Content-Type: application/json).")


async def current(
    request: web.Request, state: AppState, *, stage: str = FULL, write: bool | None = None
) -> Session:
    """The request's live session at ``stage``, or 401; for a state-changing request
    (``write``, by default any but GET/HEAD/OPTIONS) also its CSRF token, or 403."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > 200:
        raise GatewayError(401, "Not signed in.")
    session_id = hash_key(cookie)
    async with state.engine.connect() as conn:
        row = await accounts.session(conn, session_id, now())
    if row is None or row["stage"] != stage:
        raise GatewayError(401, "Not signed in, or the session has expired.")
    if row["user_id"] is None and not _admin_key_live(state, row["admin_key_hash"]):
        raise GatewayError(401, "The management key of this session has been revoked.")
    if write is None:
        write = request.method not in SAFE_METHODS
    if write:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), row["csrf_token"].encode()):
            raise GatewayError(403, "Missing or wrong CSRF token (X-CSRF-Token).")
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise GatewayError(403, "Cross-origin request refused.")
    return Session(
        id=session_id,
        user_id=row["user_id"],
        role=row["role"],
        stage=row["stage"],
        csrf_token=row["csrf_token"],
        email=row["email"],
    )


def _admin_key_live(state: AppState, key_hash: str | None) -> bool:
    if key_hash is None:
        return False
    return any(same_hash(stored, key_hash) for stored in state.cache.current.admin_hashes)


async def start(
    request: web.Request,
    response: web.StreamResponse,
    state: AppState,
    *,
    user_id: str | None,
    role: str,
    stage: str = FULL,
    admin_key_hash: str | None = None,
) -> str:
    """Open a new session (ending the one the request came with) and set its cookie on
    ``response``; returns its CSRF token."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    ts = now()
    lifetime = SESSION_SECONDS if stage == FULL else PENDING_SECONDS
    async with state.engine.begin() as conn:
        old = request.cookies.get(COOKIE)
        if old and len(old) <= 200:
            await accounts.close_session(conn, hash_key(old))
        await accounts.prune_sessions(conn, ts)
        await accounts.open_session(
            conn,
            {
                "id": hash_key(secret),
                "user_id": user_id,
                "admin_key_hash": admin_key_hash,
                "role": role,
                "stage": stage,
                "csrf_token": csrf,
                "created_at": ts,
                "expires_at": ts + lifetime,
            },
        )
    response.set_cookie(
        COOKIE,
        secret,
        max_age=lifetime,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request, state),
    )
    return csrf


async def end(request: web.Request, response: web.StreamResponse, state: AppState) -> None:
    cookie = request.cookies.get(COOKIE)
    if cookie and len(cookie) <= 200:
        async with state.engine.begin() as conn:
            await accounts.close_session(conn, hash_key(cookie))
    response.del_cookie(COOKIE, path="/")


def secure_cookies(request: web.Request, state: AppState) -> bool:
    """Secure when this request came over HTTPS or the console's public URL is HTTPS (a
    TLS-terminating proxy in front)."""
    public = state.settings.public_url
    return request.secure or bool(public and public.startswith("https://"))


async def operator_session(request: web.Request, state: AppState) -> Session:
    """The console's way into the management API: an operator's session (a read-only
    operator's for reads), its CSRF token on writes; 401 or 403 otherwise."""
    session = await current(request, state)
    if session.role == "operator" or (session.role == "viewer" and request.method in SAFE_METHODS):
        return session
    raise GatewayError(403, "This account may not use the management API.")


def state_of(request: web.Request) -> AppState:
    return request.app[STATE]
