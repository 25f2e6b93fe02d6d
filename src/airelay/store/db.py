"""The database handle: one async SQLAlchemy engine for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(database_url: str) -> str:
    """Map the contract's URLs (``sqlite:///path``, ``postgresql://...``) to async drivers."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme: {url.drivername!r}")


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


# Seconds to wait for a new PostgreSQL connection (asyncpg's own default is 60): a database
# that accepts connections but never answers is an outage (503) in seconds, not a minute.
CONNECT_TIMEOUT = 5.0


def create_engine(database_url: str, connect_timeout: float = CONNECT_TIMEOUT) -> AsyncEngine:
    url = async_url(database_url)
    if is_sqlite(database_url):
        path = make_url(database_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout},
    )
    event.listen(engine.sync_engine, "do_connect", _typed_connect)
    return engine


class DatabaseUnreachable(ConnectionError):
    """A new PostgreSQL connection could not be opened: refused, reset, lost or timed out
    on the way. asyncpg raises those as plain ``OSError``, which SQLAlchemy passes on as
    they are, like any other ``OSError`` (an upstream's, Redis's). Typed where it is raised,
    so that ``store.unavailable`` knows it for the database's without reading where it was
    raised: a traceback does not always keep that (an error delivered to a coroutine through
    a future from another task, into code compiled by mypyc: see ``bench/compiled.py``)."""


def _typed_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """SQLAlchemy's own connect (``do_connect``), with its ``OSError`` typed."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise DatabaseUnreachable(f"{type(exc).__name__}: {exc}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Statement journals and sorts in memory: a batch of usage rows (hundreds of rows in
    # one statement, inside a transaction) otherwise spills its statement journal to a
    # temporary file, written and thrown away at every flush.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def now() -> int:
    return int(time.time())
