"""A fault-injecting TCP proxy for PostgreSQL, to put a broken network between a gateway
and its database.

It runs on loopback in a daemon thread with its own event loop and forwards bytes both ways.
It reads the client's side of the PostgreSQL wire protocol message by message (startup,
then typed messages), so that it can recognise a transaction's ``COMMIT``, whether sent as a
simple query (``Q``, which is what asyncpg does) or parsed in the extended protocol (``P``).

Faults:
- ``cut_after_commit(when=...)``: the next COMMIT of a transaction that sent ``when`` (bytes
  of its SQL) reaches the server, the server's reply is read and thrown away, and both sides
  of that connection are closed: the transaction committed, the client never learns it.
- ``delay``: seconds added before forwarding each chunk of the server's replies.
- ``refuse``: new connections are closed at once (the database is unreachable).
- ``cut_all()``: close every open connection now.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


def _is_commit(kind: bytes, body: bytes) -> bool:
    """A simple query or a parsed statement whose text is COMMIT (or END)."""
    if kind == b"Q":
        text = body.split(b"\0", 1)[0]
    elif kind == b"P":
        parts = body.split(b"\0", 2)  # statement name, query text, parameter types
        text = parts[1] if len(parts) > 1 else b""
    else:
        return False
    return text.strip().rstrip(b";").strip().upper() in (b"COMMIT", b"END")


def _ends_transaction(kind: bytes, body: bytes) -> bool:
    if kind not in (b"Q", b"P"):
        return False
    text = body.split(b"\0", 2)[1 if kind == b"P" else 0].strip().rstrip(b";").strip().upper()
    return text in (b"COMMIT", b"END", b"ROLLBACK", b"ABORT")


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    saw_marker: bool = False  # this transaction sent the bytes a cut waits for
    cut: bool = False  # a COMMIT went through: drop the reply and close
    statements: dict[bytes, bytes] = field(default_factory=dict)  # prepared: name -> SQL
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        for writer in (self.client, self.server):
            if not writer.is_closing():
                writer.close()


class DatabaseProxy:
    """``with DatabaseProxy("postgresql://...") as proxy:`` then connect to ``proxy.url``."""

    def __init__(self, database_url: str) -> None:
        parsed = make_url(database_url)
        self._target = (parsed.host or "127.0.0.1", parsed.port or 5432)
        self._url = parsed
        self.port = 0
        self.delay = 0.0
        self.refuse = False
        self.commits = 0  # COMMIT messages seen (all connections)
        self.cuts = 0  # connections cut after their COMMIT went through
        self.commit_kinds: set[bytes] = set()  # b"Q" and/or b"P": how COMMIT was sent
        self._cut_marker: bytes | None = None
        self._cuts_left = 0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The database URL, through the proxy."""
        return self._url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    # -- faults ------------------------------------------------------------------------

    def cut_after_commit(self, when: bytes = b"", count: int = 1) -> None:
        """Lose the reply to the next ``count`` COMMITs of transactions that sent ``when``."""
        self._call(self._arm, when, count)

    def _arm(self, when: bytes, count: int) -> None:
        self._cut_marker = when
        self._cuts_left = count

    def cut_all(self) -> None:
        self._call(lambda: [link.close() for link in list(self._links)])

    def _call(self, fn: object, *args: object) -> None:
        """Run ``fn`` on the proxy's loop and wait for it (faults change loop state)."""
        assert self._loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                fn(*args)  # type: ignore[operator]
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    # -- forwarding --------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        link = _Link(client=writer, server=server_writer)
        self._links.add(link)
        upstream = asyncio.ensure_future(self._client_to_server(reader, link))
        downstream = asyncio.ensure_future(self._server_to_client(server_reader, link))
        link.tasks = [upstream, downstream]
        try:
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            link.close()
            for task in link.tasks:
                task.cancel()
            self._links.discard(link)

    async def _client_to_server(self, reader: asyncio.StreamReader, link: _Link) -> None:
        try:
            # Untyped start-up messages (SSL/GSS requests, then the startup packet).
            while True:
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                rest = await reader.readexactly(length - 8)
                link.server.write(head + rest)
                await link.server.drain()
                if code == _CANCEL_REQUEST:
                    return
                if code not in (_SSL_REQUEST, _GSS_REQUEST):
                    break
            while True:
                kind = await reader.readexactly(1)
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                if self._sends_marker(link, kind, body):
                    link.saw_marker = True
                commit = _is_commit(kind, body)
                if commit:
                    self.commits += 1
                    self.commit_kinds.add(kind)
                    if self._cuts_left > 0 and link.saw_marker:
                        self._cuts_left -= 1
                        link.cut = True
                if _ends_transaction(kind, body):
                    link.saw_marker = False
                link.server.write(kind + struct.pack("!i", length) + body)
                await link.server.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def _sends_marker(self, link: _Link, kind: bytes, body: bytes) -> bool:
        """Whether this message runs SQL containing the marker. Drivers prepare a statement
        once (``P``, with its text) and later only bind it by name (``B``): the proxy keeps
        each connection's prepared texts."""
        marker = self._cut_marker or b""
        if kind == b"P":
            name, _, rest = body.partition(b"\0")
            text = rest.split(b"\0", 1)[0]
            link.statements[name] = text
            return bool(marker) and marker in text
        if kind == b"B":
            statement = body.split(b"\0", 2)[1]
            return bool(marker) and marker in link.statements.get(statement, b"")
        return kind == b"Q" and bool(marker) and marker in body

    async def _server_to_client(self, reader: asyncio.StreamReader, link: _Link) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if link.cut:
                    # The COMMIT reached the server and it answered: the transaction is
                    # committed. Its reply is lost with the connection.
                    self.cuts += 1
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
                link.client.write(data)
                await link.client.drain()
        except ConnectionError:
            return

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> Self:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="db-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for link in list(self._links):
                link.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LoseCommitReply:
    """The same fault for any engine, in code: an engine whose ``begin()`` transactions
    commit for real and then raise, as if the reply to COMMIT had been lost, when they wrote
    to a table named ``when`` (for SQLite, where there is no wire to cut).

    Put it in place of a component's engine: ``wallets._engine = LoseCommitReply(engine)``.
    """

    def __init__(self, engine: AsyncEngine, when: str = "usage_logs") -> None:
        self._engine = engine
        self._when = when
        self.armed = 0
        self.lost = 0  # transactions committed whose success was hidden
        event.listen(engine.sync_engine, "before_cursor_execute", self._saw)

    def _saw(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._when in statement:
            conn.info["lose_commit_marker"] = True

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as conn:
            conn.sync_connection.info.pop("lose_commit_marker", None)  # type: ignore[union-attr]
            yield conn
            marked = conn.sync_connection.info.pop("lose_commit_marker", False)  # type: ignore[union-attr]
        if marked and self.armed > 0:
            self.armed -= 1
            self.lost += 1
            raise ConnectionResetError("the reply to COMMIT was lost (injected)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
