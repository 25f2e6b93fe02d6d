"""Run the Alembic migrations programmatically (``airelay migrate``, and at start-up).

Call from synchronous code only: the migration environment runs its own event loop.

N instances starting together migrate once: on PostgreSQL the migration environment takes
a transaction-scoped advisory lock before it reads the schema's revision (the others wait,
then find it current); on SQLite (one host) an exclusive lock on a file beside the database
does the same. A database migrated by a newer release (a revision this code does not know)
is refused with ``SchemaMismatch``, never "upgraded" blindly.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from airelay.store.migrate_files import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "alembic_config", "downgrade", "upgrade"]


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    with _sqlite_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    with _sqlite_lock(database_url):
        command.downgrade(alembic_config(database_url), revision)


@contextlib.contextmanager
def _sqlite_lock(database_url: str) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate-lock`` for an SQLite file database
    (released when the file closes, also when the process dies); nothing otherwise."""
    url = make_url(database_url)
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        yield
        return
    lock_path = Path(path + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
