"""Start-up chores done once per deployment, before serving: the root management key."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError

from airelay.config import Settings
from airelay.security.keys import MGMT_KEY_PREFIX, generate_key, hash_key
from airelay.store import admin_keys, meta
from airelay.store.db import create_engine


async def ensure_admin_key(settings: Settings) -> str | None:
    """Make sure a management key exists. Returns a newly generated key (to print once), or
    None when ``AIRELAY_ADMIN_KEY`` is set or a key already existed."""
    if settings.admin_key and not settings.admin_key.startswith(MGMT_KEY_PREFIX):
        raise ValueError("AIRELAY_ADMIN_KEY must start with 'mgmt-'")
    engine = create_engine(settings.database_url)
    try:
        if settings.admin_key:
            digest = hash_key(settings.admin_key)
            try:
                async with engine.begin() as conn:
                    if not await admin_keys.exists(conn, digest):
                        await admin_keys.create(conn, digest, "root (AIRELAY_ADMIN_KEY)")
                        await meta.bump_config_version(conn)
            except IntegrityError:
                # Instances starting together: another one stored the same key first.
                async with engine.connect() as conn:
                    if not await admin_keys.exists(conn, digest):
                        raise
            return None
        async with engine.begin() as conn:
            if await admin_keys.count(conn):
                return None
            key = generate_key(MGMT_KEY_PREFIX)
            await admin_keys.create(conn, hash_key(key), "root")
            await meta.bump_config_version(conn)
            return key
    finally:
        await engine.dispose()


async def create_admin_key(settings: Settings, name: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            key = generate_key(MGMT_KEY_PREFIX)
            await admin_keys.create(conn, hash_key(key), name)
            await meta.bump_config_version(conn)
            return key
    finally:
        await engine.dispose()


def ensure_admin_key_sync(settings: Settings) -> str | None:
    return asyncio.run(ensure_admin_key(settings))
