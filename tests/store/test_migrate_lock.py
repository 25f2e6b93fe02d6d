"""Migrations under deployment: N instances migrating one database at once migrate it once
(PostgreSQL: an advisory lock; SQLite: a file lock), and an instance refuses to serve on a
schema newer or older than its code, with a message that says what to do."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from airelay.config import Settings
from airelay.store.db import create_engine
from airelay.store.migrate import downgrade, upgrade
from airelay.store.migrate_files import VERSIONS_DIR
from airelay.store.schema import SchemaMismatch, check_schema, code_revisions

HEAD = code_revisions()[1]


def _run(database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airelay", *args],
        env={**os.environ, "AIRELAY_DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _versions(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def _set_version(database_url: str, revision: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        await engine.dispose()


def test_instances_migrating_together_migrate_once(database_url: str) -> None:
    """Three ``airelay migrate`` at once on a fresh database: each waits for the lock, the
    first migrates, the others find the schema current. (Without the lock, two of three
    fail on PostgreSQL: 'relation already exists'.)"""
    processes = [_run(database_url, "migrate") for _ in range(3)]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (_out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
    assert asyncio.run(_versions(database_url)) == [HEAD]


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url
    asyncio.run(_set_version(database_url, HEAD))


def test_a_database_newer_than_the_code_is_refused_by_migrate_and_serve(
    migrated: str, tmp_path: Path
) -> None:
    asyncio.run(_set_version(migrated, "9999"))
    migrate = _run(migrated, "migrate")
    _out, err = migrate.communicate(timeout=60)
    assert migrate.returncode == 1
    assert "revision 9999, newer than this airelay" in err
    assert "Traceback" not in err
    serve = _run(
        migrated,
        "serve",
        env={"AIRELAY_PORT": "0", "AIRELAY_DATA_DIR": str(tmp_path), "AIRELAY_ADMIN_KEY": "mgmt-x"},
    )
    _out, err = serve.communicate(timeout=60)
    assert serve.returncode == 1
    assert "newer than this airelay" in err
    assert asyncio.run(_versions(migrated)) == ["9999"]  # left as it was


def test_the_app_refuses_to_start_on_a_newer_schema(migrated: str, tmp_path: Path) -> None:
    """A worker started without ``prepare`` (or a database migrated under it by a newer
    release before it started): one line on stderr, exit status 1."""
    asyncio.run(_set_version(migrated, "9999"))
    code = (
        "import pathlib; from airelay.config import Settings; from airelay.server import run; "
        f"run(Settings(database_url={migrated!r}, data_dir=pathlib.Path({str(tmp_path)!r}), "
        "port=0))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("airelay: refusing to serve: the database schema is at")
    assert "Traceback" not in result.stderr


def _previous(revision: str) -> str:
    """The revision ``revision`` follows (numbers are not in chain order)."""
    for path in VERSIONS_DIR.glob("*.py"):
        source = path.read_text()
        if re.search(rf'^revision = "{revision}"$', source, re.MULTILINE):
            found = re.search(r'^down_revision = "(\w+)"$', source, re.MULTILINE)
            assert found is not None
            return found.group(1)
    raise AssertionError(f"no migration {revision}")


def test_an_older_schema_is_refused_with_what_to_do(database_url: str) -> None:
    older = _previous(code_revisions()[1])
    upgrade(database_url)
    downgrade(database_url, older)
    try:
        with pytest.raises(SchemaMismatch, match=f"revision {older}, older than .*airelay migrate"):
            asyncio.run(_check(database_url))
    finally:
        upgrade(database_url)
    asyncio.run(_check(database_url))  # current: no complaint


async def _check(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await check_schema(engine)
    finally:
        await engine.dispose()


def test_the_code_revision_is_the_migrations_head() -> None:
    from alembic.script import ScriptDirectory

    from airelay.store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(Settings().database_url))
    assert script.get_heads() == [HEAD]
    assert code_revisions()[0] == {rev.revision for rev in script.walk_revisions()}
