"""Per-entity configuration reloads on SQLite and PostgreSQL: two caches (two instances) on
one database; writes of keys and users reach the other instance as those records alone, and
its snapshot then equals a full reload; any other write, or a change log that does not
reach back far enough, rebuilds everything."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import event

from airelay.security.crypto import SecretBox
from airelay.security.keys import hash_key
from airelay.store import channels, config_log, meta, models, settings, tokens, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.snapshot import ConfigCache, Snapshot, load

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


def _routes(snapshot: Snapshot) -> dict[str, dict[str, list[str]]]:
    return {
        str(endpoint): {model: [c.id for c in channels] for model, channels in by_model.items()}
        for endpoint, by_model in snapshot.endpoint_routes.items()
    }


def _same_configuration(applied: Snapshot, fresh: Snapshot) -> None:
    assert [c.id for c in applied.channels] == [c.id for c in fresh.channels]
    assert [(c.name, c.api_keys, c.status, c.models) for c in applied.channels] == [
        (c.name, c.api_keys, c.status, c.models) for c in fresh.channels
    ]
    assert _routes(applied) == _routes(fresh)
    assert applied.routes.keys() == fresh.routes.keys()
    assert applied.known_models == fresh.known_models
    assert applied.catalog == fresh.catalog and applied.prices == fresh.prices
    assert applied.group_multipliers == fresh.group_multipliers
    assert applied.keys == fresh.keys


def channel_values(name: str, models: list[str], **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "type": "openai",
        "base_url": "https://upstream.example/v1",
        "api_keys": [BOX.encrypt(f"sk-{name}")],
        "models": models,
        "model_mapping": {},
        "priority": 1,
        "weight": 1,
        "status": "active",
        **extra,
    }


def test_channel_model_and_settings_writes_reload_those_alone(migrated: str) -> None:
    """A channel, catalog or settings write on instance A reaches instance B as that entity
    read again: B never reads a key, a user or another channel, and ends where a full load
    would."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        reader_engine = create_engine(migrated)
        statements: list[str] = []

        def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(" ".join(statement.lower().split()))

        writer = ConfigCache(engine, BOX, 3600)
        reader = ConfigCache(reader_engine, BOX, 3600)
        try:
            async with engine.begin() as conn:  # keys and users the reader must not re-read
                owner = await users.create(conn, email=None)
                for n in range(3):
                    await tokens.create_for_user(conn, owner["id"], key_values(n))
            kept = await channels.add(engine, channel_values("kept", ["m-kept"]))
            await writer.start()
            await reader.start()
            loads = reader.full_loads
            kept_record = next(c for c in reader.current.channels if c.id == kept["id"])
            event.listen(reader_engine.sync_engine, "before_cursor_execute", seen)

            added = await channels.add(engine, channel_values("new", ["m-new", "m-both"]))
            other = await channels.add(engine, channel_values("other", ["m-both"], priority=2))
            await models.add(
                engine,
                {
                    "id": "m-new",
                    "owned_by": "t",
                    "pricing": {"input": 10**6},
                    "max_output_tokens": None,
                },
            )
            await reader.refresh()
            both = [c.id for c in reader.current.routes["m-both"]]
            assert both == [added["id"], other["id"]]
            assert "m-new" in reader.current.prices

            await channels.change(engine, added["id"], lambda row: {"status": "disabled"})
            await models.change(engine, "m-new", lambda row: {"pricing": {"input": 2 * 10**6}})
            await settings.change(engine, lambda stored: {"group_multipliers": {"vip": "0.5"}})
            await reader.refresh()
            assert [c.id for c in reader.current.routes["m-both"]] == [other["id"]]
            assert "m-new" not in reader.current.routes
            assert str(reader.current.group_multipliers["vip"]) == "1/2"

            await channels.remove(engine, added["id"])
            await models.remove(engine, "m-new")
            await reader.refresh()
            assert added["id"] not in {c.id for c in reader.current.channels}
            assert "m-new" not in reader.current.known_models

            event.remove(reader_engine.sync_engine, "before_cursor_execute", seen)
            assert reader.full_loads == loads
            touched = [s for s in statements if " from tokens" in s or " from users" in s]
            assert touched == []  # not one key or user read again
            channel_reads = [s for s in statements if " from channels" in s]
            assert channel_reads and all(" in (" in s or " in(" in s for s in channel_reads)
            # An unchanged channel keeps its record (and what is cached on it).
            assert next(c for c in reader.current.channels if c.id == kept["id"]) is kept_record
            fresh, _ = await load(engine, BOX)
            _same_configuration(reader.current, fresh)
            with pytest.raises(channels.NotFound):
                await channels.change(engine, "ch_missing", lambda row: {})
            entry = {"id": "m-y", "owned_by": "t", "pricing": {}, "max_output_tokens": None}
            await models.add(engine, entry)
            with pytest.raises(models.Exists):
                await models.add(engine, entry)
        finally:
            await writer.stop()
            await reader.stop()
            await engine.dispose()
            await reader_engine.dispose()

    asyncio.run(scenario())
