"""Which configuration entities changed, so that an instance reloads those and not the whole
configuration (which is O(all keys) per write, on every instance).

A write of one entity (a key, a user, a channel, a catalog model, the settings) calls
``record`` inside its transaction: it moves the config version, as every configuration
write does, and appends ``(version, kind, id)`` to a short log in the ``meta`` table. An
instance at version ``v`` asks ``changes_since(v)``: if the log holds ``v`` and ends at the
current version, the entries after ``v`` are all that changed; otherwise (``v`` too old,
or a write that is not entity-scoped came between, which empties the log:
``meta.bump_config_version``) it reloads everything, as before.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store import meta

TOKEN = "token"
USER = "user"
CHANNEL = "channel"
MODEL = "model"
SETTINGS = "settings"  # the one settings document (entity id "")
KEEP = 200  # entries; an instance further behind reloads everything


async def record(conn: AsyncConnection, kind: str, entity_id: str) -> None:
    """Call inside the write's transaction. The version row is written first: its row lock
    (PostgreSQL) or the write lock (SQLite) orders concurrent writers, so each reads the log
    as the one before it left it."""
    version = os.urandom(8).hex()
    await meta.put(conn, meta.CONFIG_VERSION, version)
    entries: list[list[Any]] = (await meta.get_json(conn, meta.CONFIG_CHANGES) or {}).get(
        "entries", []
    )
    entries.append([version, kind, entity_id])
    await meta.put_json(conn, meta.CONFIG_CHANGES, {"entries": entries[-KEEP:]})


async def changes_since(
    conn: AsyncConnection, version: str
) -> tuple[str, list[tuple[str, str]] | None]:
    """The current version, and the (kind, id) changed since ``version``; None: unknown
    (reload everything)."""
    current = await meta.config_version(conn)
    if current == version:
        return current, []
    entries = (await meta.get_json(conn, meta.CONFIG_CHANGES) or {}).get("entries", [])
    versions = [entry[0] for entry in entries]
    # Read apart from the version: a write between the two reads shows as a mismatch here.
    if not version or version not in versions or versions[-1] != current:
        return current, None
    start = versions.index(version) + 1
    return current, [(kind, entity_id) for _, kind, entity_id in entries[start:]]
