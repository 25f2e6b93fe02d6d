"""User API keys (``sk-...``): stored as a hash plus a short hint for display."""

from __future__ import annotations

from typing import Any

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
