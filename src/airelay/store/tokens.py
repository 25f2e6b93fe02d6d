"""User API keys (``sk-...``): stored as a hash plus a short hint for display.

The writes of keys (create, change, revoke) are here with their configuration-change
record (``config_log``), one function each, so that every instance reloads that key alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store import config_log, crud, driver
from airelay.store.db import now
from airelay.store.tables import tokens, users


class NotFound(LookupError):
    """No such key (or no such user to own it)."""


class Revoked(Exception):
    """A revoked key cannot be changed."""


async def create_for_user(
    conn: AsyncConnection, user_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """A new key of ``user_id`` (NotFound if the user is missing or deleted), recorded as a
    configuration change. Call inside a transaction."""
    user = await crud.get(conn, users, user_id)
    if user is None or user["status"] == "deleted":
        raise NotFound(user_id)
    row = await create(conn, {**values, "user_id": user_id})
    await config_log.record(conn, config_log.TOKEN, row["id"])
    return row


async def update(conn: AsyncConnection, token_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Change a key's columns (NotFound, or Revoked: a revoked key stays as it is), recorded
    as a configuration change; returns the row as it now is."""
    row = await crud.get(conn, tokens, token_id)
    if row is None:
        raise NotFound(token_id)
    if row["status"] == "revoked":
        raise Revoked(token_id)
    row = await crud.update(conn, tokens, token_id, values)
    await config_log.record(conn, config_log.TOKEN, token_id)
    return row


async def revoke(conn: AsyncConnection, token_id: str) -> dict[str, Any]:
    """Mark a key revoked for good (NotFound if there is none)."""
    if await crud.get(conn, tokens, token_id) is None:
        raise NotFound(token_id)
    row = await crud.update(conn, tokens, token_id, {"status": "revoked"})
    await config_log.record(conn, config_log.TOKEN, token_id)
    return row


async def with_owner(
    conn: AsyncConnection, *, token_id: str | None = None, user_id: str | None = None
) -> list[tuple[dict[str, Any], str, str]]:
    """Keys with their user's status and group (``"deleted"`` if the user is gone): one
    key, or all of one user's; for the configuration snapshot."""
    query = select(tokens, users.c.status.label("owner_status"), users.c.group.label("owner_group"))
    query = query.select_from(tokens.outerjoin(users, users.c.id == tokens.c.user_id))
    if token_id is not None:
        query = query.where(tokens.c.id == token_id)
    if user_id is not None:
        query = query.where(tokens.c.user_id == user_id)
    out = []
    for mapping in (await conn.execute(query)).mappings():
        row = dict(mapping)
        status = row.pop("owner_status") or "deleted"
        group = row.pop("owner_group") or "default"
        out.append((row, status, group))
    return out


async def create(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a key; ``values`` holds the columns the caller decided (hash, hint, limits)."""
    row = {
        "id": new_id("tok"),
        "models": None,
        "ip_allowlist": None,
        "expires_at": None,
        "quota": None,
        "rpm": None,
        "tpm": None,
        "max_concurrency": None,
        "quota_period": None,
        "used": 0,
        "period_used": 0,
        "period_start": None,
        "status": "active",
        "created_at": now(),
        "last_used_at": None,
        **values,
    }
    await conn.execute(tokens.insert().values(**row))
    return row


# Built once: the billing flush runs it for each key every few dozen ms.
_ADD_USED = (
    tokens.update()
    .where(tokens.c.id == bindparam("b_id"))
    .values(used=tokens.c.used + bindparam("b_amount"), last_used_at=bindparam("b_now"))
    .returning(tokens.c.used)
)


async def add_used(conn: AsyncConnection, spent: dict[str, int]) -> dict[str, int]:
    """Add each key's charges (``spent``: amount per key id) to its ``used``, locking the
    keys in ascending id order; returns each key's ``used`` after the write (a key deleted
    meanwhile is left out)."""
    used: dict[str, int] = {}
    at = now()
    for token_id in sorted(spent):
        params = {"b_id": token_id, "b_amount": spent[token_id], "b_now": at}
        rows = await driver.fetch(conn, _ADD_USED, params)
        if rows:
            used[token_id] = int(rows[0][0])
    return used
