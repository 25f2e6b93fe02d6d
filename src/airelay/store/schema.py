"""Which schema this code needs, and whether the database holds it.

An instance serves only on the schema its code was written for: a database one migration
behind (nobody ran ``airelay migrate``) or ahead (a newer release migrated it during a
rolling deploy) would fail on the first query that touches the difference, possibly after
charging. So the app checks at start-up and refuses with a clear message.

The code's revision is read from the migration files themselves (their ``revision`` and
``down_revision`` lines), without loading Alembic, which the serving process never imports.
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store.migrate_files import VERSIONS_DIR

_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for."""


@functools.cache
def code_revisions() -> tuple[frozenset[str], str]:
    """Every revision this code knows, and its head (the one no other revises)."""
    known: set[str] = set()
    revised: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        source = path.read_text()
        found = _REVISION.search(source)
        if found is None:
            continue
        known.add(found.group(1))
        revised.update(_DOWN.findall(source))
    heads = sorted(known - revised)
    if len(heads) != 1:
        raise SchemaMismatch(f"the migrations have {len(heads)} heads ({heads}); expected one")
    return frozenset(known), heads[0]


async def database_revision(engine: AsyncEngine) -> str | None:
    """The revision the database was migrated to; None when it was never migrated."""
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            rows = [row[0] for row in result]
    except DBAPIError as exc:
        if _no_table(exc):
            return None
        raise
    return rows[0] if rows else None


def mismatch(current: str | None) -> str | None:
    """Why a database at ``current`` cannot be served by this code, or None."""
    known, head = code_revisions()
    if current == head:
        return None
    if current is None:
        return (
            f"the database has no schema yet; this airelay needs revision {head}: "
            "run `airelay migrate` (or `airelay serve`, which migrates first)"
        )
    if current not in known:
        return (
            f"the database schema is at revision {current}, newer than this airelay "
            f"(revision {head}): another instance runs a newer release; run that release "
            "here too, or downgrade the database with that release first"
        )
    return (
        f"the database schema is at revision {current}, older than this airelay "
        f"(revision {head}): run `airelay migrate` first"
    )


async def check_schema(engine: AsyncEngine) -> None:
    """Raise ``SchemaMismatch`` unless the database is at this code's revision."""
    problem = mismatch(await database_revision(engine))
    if problem is not None:
        raise SchemaMismatch(f"refusing to serve: {problem}")


def _no_table(error: DBAPIError) -> bool:
    message = str(error.orig).lower()
    return "no such table" in message or "does not exist" in message
