"""Shared pieces of the management API: the key check, body decoding, paging, times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from airelay.errors import GatewayError
from airelay.relay.auth import authenticate_admin, extract_bearer
from airelay.state import STATE, AppState
from airelay.surfaces.console.session import COOKIE, operator_session
from airelay.surfaces.responses import parse_json

T = TypeVar("T")

MAX_PAGE = 10**9
AdminHandler = Callable[[web.Request, AppState], Awaitable[web.StreamResponse]]
MAX_PAGE_SIZE = 200


def admin(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler so that it runs only for a valid management key."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        # The contract is ``Authorization: Bearer`` only: not ``?key=`` (a key in a URL ends
        # up in access logs), nor the SDKs' ``x-api-key``/``x-goog-api-key``, which a client
        # SDK could send to the management API by mistake with a management key in it.
        bearer = extract_bearer(request.headers)
        if bearer is None and COOKIE in request.cookies:
            await operator_session(request, state)  # an operator in the console
        else:
            authenticate_admin(state.cache.current, bearer)
        # Shielded: a client that leaves does not cut a write in half (on SQLite a
        # transaction cancelled halfway leaves its write lock behind).
        return await asyncio.shield(handler(request, state))

    guarded.__name__ = handler.__name__
    return guarded


async def _body(request: web.Request) -> bytes:
    body = await request.read()
    if b"\\u0000" in body:
        # PostgreSQL text cannot hold a NUL; no name, id or setting needs one.
        raise GatewayError(400, "invalid request body: strings must not contain NUL characters")
    return body


async def decode(request: web.Request, kind: type[T]) -> T:
    """The JSON body as ``kind``; any mismatch is a 400 that names the field."""
    body = await _body(request)
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise GatewayError(400, f"invalid request body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc
    except RecursionError as exc:
        # msgspec walks a value the Struct does not name (``{"x": [[[...]]]}``) recursively.
        raise GatewayError(400, "malformed JSON body: nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise GatewayError(400, "malformed JSON body: not UTF-8") from exc


async def decode_json(request: web.Request) -> Any:
    """The JSON body, any shape, for handlers that check it themselves; 400 if it is none."""
    return parse_json(await _body(request))


def paging(request: web.Request, default_limit: int = 50) -> tuple[int, int]:
    page = _int_param(request, "page", 1)
    limit = _int_param(request, "limit", default_limit)
    if not 1 <= page <= MAX_PAGE:
        raise GatewayError(400, f"'page' must be between 1 and {MAX_PAGE}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise GatewayError(400, f"'limit' must be between 1 and {MAX_PAGE_SIZE}")
    return page, limit


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise GatewayError(400, f"'{name}' must be an integer") from exc


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str, field: str) -> int:
    """An ISO 8601 date or time as Unix seconds (a time without zone is UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise GatewayError(400, f"'{field}' must be an ISO 8601 date or time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def require(row: dict[str, Any] | None, what: str, row_id: str) -> dict[str, Any]:
    if row is None:
        raise GatewayError(404, f"{what} '{row_id}' not found")
    return row
