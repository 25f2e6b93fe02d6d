"""Alembic environment: runs migrations over the async engine of the configured URL.

On PostgreSQL the whole run is one transaction that first takes an advisory lock
(``MIGRATION_LOCK``): instances migrating together run one after the other, and the later
ones find the schema current. A database at a revision this code does not know (migrated by
a newer release) is refused before anything runs.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from airelay.store.db import create_engine
from airelay.store.schema import SchemaMismatch, code_revisions
from airelay.store.tables import metadata

# pg_advisory_xact_lock's key: any constant the deployment's other tools do not use.
MIGRATION_LOCK = 0x61697265_6C6179  # "airelay"

config = context.config


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    _refuse_unknown_revision(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _refuse_unknown_revision(connection: Connection) -> None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return
    current = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
    known, head = code_revisions()
    for revision in current:
        if revision not in known:
            raise SchemaMismatch(
                f"the database schema is at revision {revision}, newer than this airelay "
                f"(revision {head}): it was migrated by a newer release; run that release"
            )


async def _run_async(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


database_url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
if not database_url:
    raise RuntimeError("no database URL given to the migration environment")
asyncio.run(_run_async(database_url))
