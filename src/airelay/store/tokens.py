"""User API keys (``sk-...``): stored as a hash plus a short hint for display."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store.db import now
from airelay.store.tables import tokens


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
        "used": 0,
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
        total = (await conn.execute(_ADD_USED, params)).scalar()
        if total is not None:
            used[token_id] = int(total)
    return used
