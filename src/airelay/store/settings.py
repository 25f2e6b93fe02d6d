"""The stored system settings (one JSON document in ``meta``). A write runs its own
transaction and records the change (``config_log``): instances read the settings again
alone, not the whole configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store import config_log, meta


async def read(engine: AsyncEngine) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        return await meta.get_json(conn, meta.SETTINGS)


async def change(
    engine: AsyncEngine, document: Callable[[dict[str, Any] | None], dict[str, Any]]
) -> dict[str, Any]:
    """Replace the settings by ``document(stored)`` (the stored ones, or None), in one
    transaction with the change record; returns what was stored."""
    async with engine.begin() as conn:
        stored = document(await meta.get_json(conn, meta.SETTINGS))
        await meta.put_json(conn, meta.SETTINGS, stored)
        await config_log.record(conn, config_log.SETTINGS, "")
    return stored
