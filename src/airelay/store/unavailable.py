"""Telling "the database cannot be reached now" from every other failure.

A refused or dropped connection, a pool that gives none in time, a SQLite file that cannot
be opened or stays locked: the request was fine and may succeed in a moment, so callers
answer 503 with ``Retry-After`` rather than 500, and log one line rather than a traceback.
Only error paths call this; it walks an exception's causes, never a request.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from sqlalchemy import exc as sa

from airelay.store.db import DatabaseUnreachable

RETRY_AFTER_SECONDS = 2

# asyncpg's own errors that mean "no usable connection", raised outside SQLAlchemy's
# wrapping while connecting. By name: a SQLite deployment never imports asyncpg.
_ASYNCPG_ERRORS = (
    "PostgresConnectionError",
    "InterfaceError",
    "CannotConnectNowError",
    "TooManyConnectionsError",
)
_SQLITE_OUTAGES = (
    "unable to open",
    "locked",
    "busy",
    "disk i/o",
    "readonly",
    "disk is full",
    "not a database",
)
_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) says the database is out of reach."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa.OperationalError) and _sqlite(current):
            # SQLite says "no such table" or "syntax error" with the same class: bugs, not
            # outages. Only a file it cannot open, write or lock is out of reach.
            message = str(current.orig).lower()
            if any(words in message for words in _SQLITE_OUTAGES):
                return True
        elif isinstance(current, sa.OperationalError | sa.InterfaceError | sa.TimeoutError):
            return True
        if isinstance(current, DatabaseUnreachable) or _asyncpg_connection_error(current):
            return True
        if isinstance(current, OSError) and _raised_in_driver(current.__traceback__):
            # ConnectionRefusedError, a reset, a connect timeout: an OSError is the
            # database's only when a driver raised it (an upstream's is not).
            return True
        current = current.__cause__ or current.__context__
    return False


def _sqlite(error: sa.DBAPIError) -> bool:
    return "sqlite" in type(error.orig).__module__ or "sqlite" in type(error.orig).__qualname__


def _asyncpg_connection_error(error: BaseException) -> bool:
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return False
    return any(isinstance(error, getattr(asyncpg, name)) for name in _ASYNCPG_ERRORS)


def _raised_in_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def reason(error: BaseException) -> str:
    """One short line on why: the error's type and first line, never the SQL or its
    parameters (SQLAlchemy puts those on the lines after)."""
    first = str(error).strip().partition("\n")[0][:200]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


class OutageLog:
    """What a background job logs when its database work fails: a traceback for a bug, but
    one line per outage (not one per retry) while the database is out of reach, and one
    when it is back."""

    __slots__ = ("_down", "_log", "_what")

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._down = False

    def failed(self, error: BaseException) -> None:
        if not unavailable(error):
            self._log.error("%s failed; will retry", self._what, exc_info=error)
        elif not self._down:
            self._log.warning("%s: database unavailable: %s", self._what, reason(error))
        self._down = unavailable(error)

    def succeeded(self) -> None:
        if self._down:
            self._log.info("%s: database reachable again", self._what)
            self._down = False
