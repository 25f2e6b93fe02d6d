"""``/v1/admin/users``: accounts, their status and balance (USD in JSON)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from airelay.billing import ledger
from airelay.billing.accounts import AccountView, account_views
from airelay.catalog import Email, Name, Short, one_of
from airelay.errors import GatewayError
from airelay.money import units_to_usd, usd_to_units
from airelay.state import AppState
from airelay.store import accounts, crud, tables
from airelay.store import users as users_repo
from airelay.surfaces.admin.common import (
    admin,
    decode,
    iso,
    paging,
    require,
)
from airelay.surfaces.responses import json_response

STATUSES = ("active", "disabled")
#: The longest search string ``q`` (the longest email).
MAX_QUERY = 320
UNSET: Any = msgspec.UNSET


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email | None = None
    name: Name | None = None
    group: Short = "default"
    balance: float | int | str = 0


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    email: Email | msgspec.UnsetType | None = UNSET
    name: Name | msgspec.UnsetType | None = UNSET
    group: Short | msgspec.UnsetType = UNSET
    status: Short | msgspec.UnsetType = UNSET
    # The console role: user, operator (the management API) or viewer (reads it).
    role: Short | msgspec.UnsetType = UNSET


def view(
    row: dict[str, Any], account: AccountView | None = None, role: str | None = None
) -> dict[str, Any]:
    """The user object; ``account`` gives the balance and spend the user sees (what
    instances hold counted in, unwritten charges out), else the row's own figures; ``role``
    the console role (``user`` for a user without console credentials)."""
    balance = account.balance if account else row["balance"]
    total_usage = account.total_spent if account else row["total_usage"]
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "group": row["group"],
        "status": row["status"],
        "role": role or "user",
        "balance": units_to_usd(balance),
        "total_usage": units_to_usd(total_usage),
        "created_at": iso(row["created_at"]),
    }


async def views(state: AppState, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User objects with the same balance ``/v1/balance`` answers their keys."""
    ids = [r["id"] for r in rows]
    accounts = await account_views(state.engine, state.wallets, ids)
    async with state.engine.connect() as conn:
        roles = await users_repo.roles(conn, ids)
    return [view(r, accounts.get(r["id"]), roles.get(r["id"])) for r in rows]


def _email(email: str | None) -> str | None:
    """Emails are compared case-insensitively: stored lower-case."""
    if email is None:
        return None
    email = email.strip().lower()
    if "@" not in email:
        raise GatewayError(400, "'email' must be an email address")
    return email


@admin
async def list_users(request: web.Request, state: AppState) -> web.StreamResponse:
    """Paged, oldest first; ``status`` filters, ``q`` finds a substring of the email or name
    (case-insensitive)."""
    page, limit = paging(request, default_limit=20)
    status = request.query.get("status") or None
    q = request.query.get("q", "").strip() or None
    if q is not None and len(q) > MAX_QUERY:
        raise GatewayError(400, f"'q' must be at most {MAX_QUERY} characters")
    async with state.engine.connect() as conn:
        rows, total = await users_repo.page(conn, page=page, limit=limit, status=status, q=q)
    return json_response(
        {"users": await views(state, rows), "total": total, "page": page, "limit": limit}
    )


@admin
async def create_user(request: web.Request, state: AppState) -> web.StreamResponse:
    body = await decode(request, UserCreate)
    body.email = _email(body.email)
    try:
        balance = usd_to_units(body.balance)
    except ValueError as exc:
        raise GatewayError(400, f"balance: {exc}") from exc
    if balance < 0:
        raise GatewayError(400, "'balance' must not be negative")
    async with state.engine.begin() as conn:
        if body.email is not None and await users_repo.email_taken(conn, body.email):
            raise GatewayError(409, f"a user with email '{body.email}' exists")
        row = await users_repo.create(conn, email=body.email, name=body.name, group=body.group)
        if balance:
            await ledger.credit_in(
                conn,
                user_id=row["id"],
                amount=balance,
                kind="initial",
                description="opening balance",
            )
            row["balance"] = balance
    return json_response(view(row), status=201)


@admin
async def get_user(request: web.Request, state: AppState) -> web.StreamResponse:
    user_id = request.match_info["id"]
    async with state.engine.connect() as conn:
        row = require(await crud.get(conn, tables.users, user_id), "user", user_id)
    return json_response((await views(state, [row]))[0])


@admin
async def update_user(request: web.Request, state: AppState) -> web.StreamResponse:
    user_id = request.match_info["id"]
    body = await decode(request, UserPatch)
    values = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    if "status" in values:
        one_of(values["status"], STATUSES, "status")
    if "email" in values:
        values["email"] = _email(values["email"])
    role = values.pop("role", None)
    if role is not None:
        one_of(role, accounts.ROLES, "role")
    try:
        async with state.engine.begin() as conn:
            row = await users_repo.update(conn, user_id, values)
            if role is not None:
                await accounts.set_credentials(conn, user_id, role=role)
    except users_repo.NotFound:
        raise GatewayError(404, f"user '{user_id}' not found") from None
    except users_repo.Deleted:
        raise GatewayError(409, "a deleted user cannot be changed") from None
    except users_repo.EmailTaken:
        raise GatewayError(409, f"a user with email '{values['email']}' exists") from None
    await state.cache.refresh()
    return json_response((await views(state, [row]))[0])


@admin
async def delete_user(request: web.Request, state: AppState) -> web.StreamResponse:
    """Users are kept for their history: delete marks them deleted and stops their keys."""
    user_id = request.match_info["id"]
    try:
        async with state.engine.begin() as conn:
            row = await users_repo.mark_deleted(conn, user_id)
    except users_repo.NotFound:
        raise GatewayError(404, f"user '{user_id}' not found") from None
    await state.cache.refresh()
    return json_response({**(await views(state, [row]))[0], "deleted": True})
