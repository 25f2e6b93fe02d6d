"""Users: the holders of balances and keys.

A change of a user's status or group changes what their keys may do: those writes are here
with their configuration-change record (``config_log``), so every instance reloads that
user's keys alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store import config_log, crud
from airelay.store.db import now
from airelay.store.tables import credentials, users


class NotFound(LookupError):
    """No such user."""


class Deleted(Exception):
    """A deleted user cannot be changed."""


class EmailTaken(Exception):
    """Another user has this email."""


async def update(conn: AsyncConnection, user_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Change a user's columns (NotFound, Deleted, EmailTaken), recorded as a configuration
    change; returns the row as it now is. Call inside a transaction."""
    current = await crud.get(conn, users, user_id)
    if current is None:
        raise NotFound(user_id)
    if current["status"] == "deleted":
        raise Deleted(user_id)
    email = values.get("email")
    if email is not None and await email_taken(conn, email, except_id=user_id):
        raise EmailTaken(email)
    row = await crud.update(conn, users, user_id, {**values, "updated_at": now()})
    await config_log.record(conn, config_log.USER, user_id)
    return row


async def mark_deleted(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
    """Users are kept for their history: mark one deleted (its keys stop working)."""
    if await crud.get(conn, users, user_id) is None:
        raise NotFound(user_id)
    row = await crud.update(conn, users, user_id, {"status": "deleted", "updated_at": now()})
    await config_log.record(conn, config_log.USER, user_id)
    return row


async def create(
    conn: AsyncConnection,
    *,
    email: str | None,
    name: str | None = None,
    group: str = "default",
    balance: int = 0,
) -> dict[str, Any]:
    ts = now()
    row = {
        "id": new_id("usr"),
        "email": email,
        "name": name,
        "group": group,
        "status": "active",
        "balance": balance,
        "total_usage": 0,
        "created_at": ts,
        "updated_at": ts,
    }
    await conn.execute(users.insert().values(**row))
    return row


async def email_taken(conn: AsyncConnection, email: str, except_id: str | None = None) -> bool:
    query = select(users.c.id).where(users.c.email == email)
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    return (await conn.execute(query)).first() is not None


async def statuses(conn: AsyncConnection) -> dict[str, tuple[str, str]]:
    """User id -> (status, group), for the configuration snapshot."""
    rows = await conn.execute(select(users.c.id, users.c.status, users.c.group))
    return {row.id: (row.status, row.group) for row in rows}


async def page(
    conn: AsyncConnection,
    *,
    page: int,
    limit: int,
    status: str | None = None,
    q: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of users, oldest first, and how many match. ``q`` matches a substring of the
    email or the name, case-insensitively, with ``%`` and ``_`` taken literally; the same
    ``lower(...) LIKE`` on SQLite and PostgreSQL (emails are stored lower-case, names not)."""
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(users.c.status == status)
    if q:
        needle = q.lower()
        conditions.append(
            or_(
                func.lower(users.c.email).contains(needle, autoescape=True),
                func.lower(users.c.name).contains(needle, autoescape=True),
            )
        )
    where = and_(*conditions) if conditions else None
    return await crud.page(conn, users, page=page, limit=limit, where=where)


async def roles(conn: AsyncConnection, user_ids: list[str]) -> dict[str, str]:
    """User id -> console role, for the users that have console credentials (the others
    are plain ``user``s)."""
    if not user_ids:
        return {}
    query = select(credentials.c.user_id, credentials.c.role).where(
        credentials.c.user_id.in_(user_ids)
    )
    return {row.user_id: row.role for row in await conn.execute(query)}
