"""The store on SQLite and PostgreSQL: migrations, repositories, the configuration snapshot,
and keys encrypted at rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.security.crypto import SecretBox
from airelay.security.keys import hash_key
from airelay.store import channels, crud, meta, tables, tokens, users
from airelay.store.db import create_engine
from airelay.store.migrate import downgrade, upgrade
from airelay.store.snapshot import load

TABLES = {"meta", "admin_keys", "users", "tokens", "channels", "models"}


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def test_migrations_up_down_up(migrated: str) -> None:
    assert run(_table_names(migrated)) >= TABLES
    downgrade(migrated, "base")
    assert not (TABLES & run(_table_names(migrated)))
    upgrade(migrated)
    upgrade(migrated)  # idempotent
    assert run(_table_names(migrated)) >= TABLES


def test_migrations_build_the_indexes_the_schema_declares(migrated: str) -> None:
    async def indexes(url: str) -> dict[str, set[str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: {
                        table.name: {
                            ix["name"]
                            for ix in inspect(sync).get_indexes(table.name)
                            if not ix.get("duplicates_constraint")  # PostgreSQL's UNIQUE
                        }
                        for table in tables.metadata.sorted_tables
                    }
                )
        finally:
            await engine.dispose()

    declared = {
        table.name: {index.name for index in table.indexes if index.name}
        for table in tables.metadata.sorted_tables
    }
    assert run(indexes(migrated)) == declared


@pytest.fixture
def engine(migrated: str) -> Iterator[AsyncEngine]:
    engine = create_engine(migrated)
    yield engine
    run(engine.dispose())


def test_users_paging_and_update(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        try:
            async with engine.begin() as conn:
                for i in range(5):
                    await users.create(conn, email=f"page{i}-{id(conn)}@x.io", balance=i * 10)
            async with engine.connect() as conn:
                first, total = await crud.page(conn, tables.users, page=1, limit=2)
                second, _ = await crud.page(conn, tables.users, page=2, limit=2)
                assert total >= 5 and len(first) == 2 and len(second) == 2
                assert {r["id"] for r in first}.isdisjoint({r["id"] for r in second})
            async with engine.begin() as conn:
                row = await crud.update(conn, tables.users, first[0]["id"], {"status": "disabled"})
                assert row["status"] == "disabled"
                assert await users.email_taken(conn, first[1]["email"])
                assert not await users.email_taken(
                    conn, first[1]["email"], except_id=first[1]["id"]
                )
        finally:
            await engine.dispose()

    run(scenario())


def test_snapshot_reflects_configuration(migrated: str) -> None:
    box = SecretBox("test-secret")

    async def scenario() -> None:
        engine = create_engine(migrated)
        try:
            async with engine.begin() as conn:
                version_before = await meta.config_version(conn)
                user = await users.create(conn, email=None)
                await tokens.create(
                    conn,
                    {
                        "user_id": user["id"],
                        "name": "t",
                        "key_hash": hash_key("sk-snapshot-key"),
                        "key_hint": "sk-sn...-key",
                        "permissions": ["chat"],
                        "models": ["m1"],
                        "ip_allowlist": ["10.0.0.0/8"],
                    },
                )
                for name, status, priority in (
                    ("a", "active", 2),
                    ("b", "active", 1),
                    ("c", "disabled", 1),
                ):
                    await channels.create(
                        conn,
                        {
                            "name": name,
                            "type": "openai",
                            "base_url": "http://u.invalid/v1",
                            "api_keys": [box.encrypt(f"sk-plain-{name}")],
                            "models": ["snap-model"],
                            "model_mapping": {"snap/alias": "snap-model"},
                            "priority": priority,
                            "weight": 1,
                            "status": status,
                            "timeout": None,
                        },
                    )
                await meta.bump_config_version(conn)
            snapshot, version = await load(engine, box)
            assert version != version_before
            record = snapshot.keys[hash_key("sk-snapshot-key")]
            assert record.permissions == frozenset({"chat"}) and record.models == frozenset({"m1"})
            assert record.ip_networks is not None and str(record.ip_networks[0]) == "10.0.0.0/8"
            routed = snapshot.routes["snap-model"]
            assert sorted(c.name for c in routed) == ["a", "b"]  # the disabled one is not routed
            assert "snap/alias" in snapshot.routes
            assert {c.api_keys[0] for c in routed} == {"sk-plain-a", "sk-plain-b"}
            async with engine.connect() as conn:
                stored = (await conn.execute(text("SELECT api_keys FROM channels"))).scalars().all()
            assert not any("sk-plain" in str(value) for value in stored)
            # With the wrong secret the keys cannot be read, and those channels are skipped.
            other, _ = await load(engine, SecretBox("another-secret"))
            assert "snap-model" not in other.routes
        finally:
            await engine.dispose()

    run(scenario())


def test_secret_file_created_once(tmp_path: Path) -> None:
    from airelay.security.crypto import load_or_create_secret

    first = load_or_create_secret(None, tmp_path / "d")
    assert load_or_create_secret(None, tmp_path / "d") == first
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0
    assert load_or_create_secret("configured", tmp_path / "d") == "configured"
