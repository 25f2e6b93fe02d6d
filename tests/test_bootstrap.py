"""The root management key at start-up: instances starting together on one database with
the same ``AIRELAY_ADMIN_KEY`` all start (one stores the key, the others find it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from airelay.bootstrap import ensure_admin_key
from airelay.config import Settings
from airelay.security.keys import hash_key
from airelay.store import admin_keys
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade

KEY = "mgmt-bootstrap-test-key"


def test_instances_starting_together_store_the_root_key_once(
    database_url: str, tmp_path: Path
) -> None:
    upgrade(database_url)
    settings = msgspec.structs.replace(
        Settings(), database_url=database_url, data_dir=tmp_path, admin_key=KEY
    )

    async def scenario() -> int:
        results = await asyncio.gather(*(ensure_admin_key(settings) for _ in range(6)))
        assert results == [None] * 6
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                assert await admin_keys.exists(conn, hash_key(KEY))
                return await admin_keys.count(conn)
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == 1
