"""The model catalog: public model ids, owners and prices."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.db import now
from airelay.store.tables import models


async def create(
    conn: AsyncConnection,
    model_id: str,
    owned_by: str,
    pricing: dict[str, Any],
    max_output_tokens: int | None = None,
) -> dict[str, Any]:
    ts = now()
    row = {
        "id": model_id,
        "owned_by": owned_by,
        "pricing": pricing,
        "max_output_tokens": max_output_tokens,
        "created_at": ts,
        "updated_at": ts,
    }
    await conn.execute(models.insert().values(**row))
    return row
