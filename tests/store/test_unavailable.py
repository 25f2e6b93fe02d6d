"""Which failures mean "the database is out of reach" (503, retry) and which do not (500):
real errors from real drivers."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from airelay.store.db import DatabaseUnreachable, create_engine
from airelay.store.unavailable import reason, unavailable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _failure(
    url: str, *statements: str, remove: Path | None = None, **engine_options: float
) -> BaseException:
    engine = create_engine(url, **engine_options)
    if remove is not None:
        shutil.rmtree(remove)  # after the engine made it: the connection cannot open the file
    try:
        async with engine.begin() as conn:
            for statement in statements or ("SELECT 1",):
                await conn.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
        await asyncio.sleep(0.1)  # aiosqlite's thread reports a failed open a moment later
    raise AssertionError("no failure")


def test_postgresql_refusing_connections_is_unavailable() -> None:
    error = asyncio.run(_failure(f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"))
    assert unavailable(error)
    assert "\n" not in reason(error)


def test_postgresql_that_never_answers_is_unavailable_after_the_connect_timeout() -> None:
    """A server that accepts the connection and then says nothing (a hung database, a
    black-holed route): the engine gives up after its connect timeout, as an outage."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/none"
        error = asyncio.run(_failure(url, connect_timeout=0.3))
    assert isinstance(error.__cause__ or error, TimeoutError) or "timeout" in repr(error).lower()
    assert unavailable(error)


def test_a_connection_postgresql_refuses_is_unavailable_without_its_traceback() -> None:
    """The judgement does not read where the error was raised: a traceback that lost the
    driver's frames (a failure another task hands on through a future, into compiled code)
    still says outage, and the error names what happened."""
    error = asyncio.run(_failure(f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"))
    assert isinstance(error, DatabaseUnreachable) and "ConnectionRefusedError" in str(error)
    assert unavailable(error.with_traceback(None))
    assert not unavailable(ConnectionRefusedError("refused, by no driver"))


def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    error = asyncio.run(_failure(f"sqlite:///{folder / 'x.db'}", remove=folder))
    assert "unable to open" in str(error)
    assert unavailable(error)


def test_a_wrong_statement_is_not_an_outage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    missing = asyncio.run(_failure(url, "INSERT INTO missing VALUES (1)"))
    assert "no such table" in str(missing) and not unavailable(missing)
    duplicate = asyncio.run(
        _failure(
            url,
            "CREATE TABLE t (id INTEGER PRIMARY KEY)",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (1)",
        )
    )
    assert "UNIQUE" in str(duplicate) and not unavailable(duplicate)


def test_an_os_error_of_our_own_is_not_the_database() -> None:
    def ours() -> None:
        raise ConnectionResetError("an upstream went away")

    with pytest.raises(ConnectionResetError) as caught:
        ours()
    assert not unavailable(caught.value)
