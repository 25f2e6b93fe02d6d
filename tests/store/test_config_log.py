"""Per-entity configuration reloads on SQLite and PostgreSQL: two caches (two instances) on
one database; writes of keys and users reach the other instance as those records alone, and
its snapshot then equals a full reload; any other write, or a change log that does not
reach back far enough, rebuilds everything."""

from __future__ import annotations

import asyncio
import random

import pytest

from airelay.security.crypto import SecretBox
from airelay.security.keys import hash_key
from airelay.store import config_log, meta, tokens, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.snapshot import ConfigCache, load

BOX = SecretBox("test-secret")


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def key_values(n: int) -> dict[str, object]:
    return {
        "name": f"k{n}",
        "key_hash": hash_key(f"sk-config-log-{n}-{random.random()}"),
        "key_hint": "sk-...",
        "permissions": ["chat"],
    }


def test_key_and_user_writes_reload_those_records_alone(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        writer, reader = ConfigCache(engine, BOX, 3600), ConfigCache(engine, BOX, 3600)
        try:
            await writer.start()
            await reader.start()
            # An entity-scoped write first: the readers' version is then on the log.
            async with engine.begin() as conn:
                owner = await users.create(conn, email=None)
                first = await tokens.create_for_user(conn, owner["id"], key_values(0))
            await writer.refresh()
            await reader.refresh()
            loads = reader.full_loads
            rng = random.Random(7)
            created = [first["id"]]
            for step in range(25):
                async with engine.begin() as conn:
                    action = rng.choice(["create", "update", "revoke", "user"])
                    if action == "create":
                        created.append(
                            (await tokens.create_for_user(conn, owner["id"], key_values(step)))[
                                "id"
                            ]
                        )
                    elif action == "update":
                        token_id = rng.choice(created)
                        with_status = await tokens.with_owner(conn, token_id=token_id)
                        if with_status[0][0]["status"] != "revoked":
                            await tokens.update(conn, token_id, {"rpm": step, "models": ["m"]})
                    elif action == "revoke":
                        await tokens.revoke(conn, rng.choice(created))
                    else:
                        group = rng.choice(["default", "vip"])
                        await users.update(conn, owner["id"], {"group": group})
                if step % 3 == 0:  # the reader polls now and then: several changes at once
                    await reader.refresh()
            await reader.refresh()
            assert reader.full_loads == loads  # no whole rebuild for any of these writes
            fresh, _ = await load(engine, BOX)
            assert reader.current.keys == fresh.keys

            # Deleting the user stops every key of theirs, on the other instance too.
            async with engine.begin() as conn:
                await users.mark_deleted(conn, owner["id"])
            await reader.refresh()
            assert {r.user_status for r in reader.current.keys.values() if r.id in created} == {
                "deleted"
            }
            assert reader.full_loads == loads

            # Any other configuration write: everything is read again.
            async with engine.begin() as conn:
                await meta.bump_config_version(conn)
            await reader.refresh()
            assert reader.full_loads == loads + 1
        finally:
            await writer.stop()
            await reader.stop()
            await engine.dispose()

    asyncio.run(scenario())


def test_a_reader_behind_the_log_reloads_everything(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        try:
            async with engine.begin() as conn:
                owner = await users.create(conn, email=None)
                await tokens.create_for_user(conn, owner["id"], key_values(1))
                version = await meta.config_version(conn)
                _, changes = await config_log.changes_since(conn, version)
                assert changes == []
                for n in range(config_log.KEEP + 1):
                    await tokens.create_for_user(conn, owner["id"], key_values(n))
                _, changes = await config_log.changes_since(conn, version)
                assert changes is None  # the log no longer reaches back to it
                version = await meta.config_version(conn)
                await tokens.create_for_user(conn, owner["id"], key_values(2))
                _, changes = await config_log.changes_since(conn, version)
                assert changes is not None and len(changes) == 1
                with pytest.raises(tokens.NotFound):
                    await tokens.create_for_user(conn, "usr_missing", key_values(3))
        finally:
            await engine.dispose()

    asyncio.run(scenario())
