"""A pipelined Redis client: the rate-limit scripts a relayed call sends, and the gateway's
other commands (``redis_scripts``).

Why not redis-py there: measured under load with limits on in Redis, its asyncio client
took about half of the gateway's CPU. Each command borrows a connection from a pool (one
connection per command in flight: a thousand open streams held a thousand connections,
~180 MiB), goes through retry, timeout and event wrappers, and is parsed in Python.

This client sends every command on one connection and reads the answers in order (Redis
answers a connection's commands in the order they came): commands in flight together cost
no more connections. The commands of one turn of the event loop leave in one write, and
those nobody awaits (``post``: a call's end given back) wait up to ``LAZY_SECONDS`` to leave
with the next one awaited. The
timeout is the connection's, not each command's: when the oldest answer awaited has not
come within ``timeout`` (no answer at all came meanwhile), the connection is dropped and
every command on it fails with ``TimeoutError``; the next command connects again.

It does what the hot path needs and no more: ``redis://`` and ``unix://`` URLs (user,
password, database), RESP2 answers, and ``EVALSHA`` that falls back to ``EVAL`` when Redis
does not hold the script (``run``), and any other command (``call``). Other URLs
(``rediss://``) go to redis-py (``redis_scripts.open_scripts``); a subscription has a
connection of its own (``redis_subscriber``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

Arg = bytes | str | int
#: How long a command nobody awaits (``post``) may wait for one that is awaited, to leave
#: in the same write.
LAZY_SECONDS = 0.005
# A timeout's check this late (s) ran after the loop was held up; it looks again this soon.
_LATE = 0.01
#: What a command's answer is handed to when nobody awaits it (``post``).
Handler = Callable[[Any], None]


class ReplyError(Exception):
    """An error answer from Redis (``-ERR ...``, ``-NOSCRIPT ...``)."""

    @property
    def code(self) -> str:
        return str(self.args[0]).partition(" ")[0] if self.args else ""


class ProtocolError(ConnectionError):
    """Bytes from the server that are not RESP: the connection is dropped."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect and what to say first."""

    host: str | None
    port: int
    path: str | None  # a unix socket
    username: str | None
    password: str | None
    db: int


def parse_url(url: str) -> Target:
    """``redis://[user[:password]@]host[:port][/db]`` or ``unix:///path[?db=N]``; raises
    ``ValueError`` for what this client does not speak."""
    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    password = query.get("password", password)
    if parts.scheme == "redis":
        db = query.get("db") or parts.path.lstrip("/") or "0"
        host = parts.hostname or "localhost"
        return Target(host, parts.port or 6379, None, username, password, int(db))
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs the socket's path")
        return Target(None, 0, parts.path, username, password, int(query.get("db") or 0))
    raise ValueError(f"the pipelined Redis client does not speak {parts.scheme}://")


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + pack_items(args)


def pack_items(args: Sequence[Arg]) -> bytes:
    """The bulk strings of ``args``, without the array's header (``Prepared`` has it)."""
    out = []
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"a Redis argument must be bytes, str or int, not {type(arg)}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Incomplete(Exception):
    """The buffer ends inside an answer: wait for more bytes."""


def parse(buffer: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One RESP2 answer from ``buffer[pos:]`` and where the next one starts. Integers are
    ``int``, bulk and simple strings ``bytes``, nulls ``None``, an error a ``ReplyError``
    (as a value: the caller raises it). Raises ``_Incomplete`` or ``ProtocolError``."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buffer[pos]
    if kind == 58:  # ':' integer
        return int(buffer[pos + 1 : end]), end + 2
    if kind == 42:  # '*' array
        count = int(buffer[pos + 1 : end])
        pos = end + 2
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = parse(buffer, pos)
            items.append(item)
        return items, pos
    if kind == 36:  # '$' bulk string
        length = int(buffer[pos + 1 : end])
        if length < 0:
            return None, end + 2
        start = end + 2
        stop = start + length
        if len(buffer) < stop + 2:
            raise _Incomplete
        return bytes(buffer[start:stop]), stop + 2
    if kind == 43:  # '+' simple string
        return bytes(buffer[pos + 1 : end]), end + 2
    if kind == 45:  # '-' error
        return ReplyError(buffer[pos + 1 : end].decode(errors="replace")), end + 2
    raise ProtocolError(f"not a RESP answer: {bytes(buffer[pos : pos + 16])!r}")


def parse_many(buffer: bytearray) -> list[Any]:
    """Every whole answer at the start of ``buffer``, taken out of it (the start of one
    not whole yet stays). Raises ``ProtocolError``."""
    answers = []
    pos = 0
    try:
        while pos < len(buffer):
            answer, pos = parse(buffer, pos)
            answers.append(answer)
    except _Incomplete:
        pass
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc
    del buffer[:pos]
    return answers


P = TypeVar("P", bound=asyncio.Protocol)


async def dial(target: Target, protocol: Callable[[], P]) -> tuple[asyncio.BaseTransport, P]:
    """A connection to ``target`` (TCP or a unix socket) speaking ``protocol``."""
    loop = asyncio.get_running_loop()
    if target.path is not None:
        return await loop.create_unix_connection(protocol, target.path)
    assert target.host is not None
    return await loop.create_connection(protocol, target.host, target.port)


def auth_command(target: Target) -> list[Arg] | None:
    """The ``AUTH`` a connection to ``target`` starts with, if it has a password."""
    if target.password is None:
        return None
    return [b"AUTH", *([target.username] if target.username else []), target.password]


class _Connection(asyncio.Protocol):
    """One connection: commands written in order, answers handed out in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        # What each answer awaited goes to, in the order the commands were written.
        self._waiting: deque[asyncio.Future[Any] | Handler] = deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._lazy: asyncio.TimerHandle | None = None  # the flush of commands not urgent
        self._answered = 0  # answers read so far (the timeout watches it move)
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.lost: BaseException | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        waiting = self._waiting
        try:
            while pos < len(buffer):
                answer, pos = parse(buffer, pos)
                self._answered += 1
                if not waiting:
                    raise ProtocolError("an answer to no command")
                _deliver(waiting.popleft(), answer)
        except _Incomplete:
            pass
        except (ProtocolError, ValueError) as exc:
            self._fail(exc if isinstance(exc, ProtocolError) else ProtocolError(str(exc)))
            return
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("Redis closed the connection"))

    # commands

    def send(self, args: Sequence[Arg], to: asyncio.Future[Any] | Handler) -> None:
        """Write a command (with the others of this loop turn); its answer goes to ``to``."""
        self.send_packed(pack(args), to)

    def send_packed(
        self,
        command: bytes,
        to: asyncio.Future[Any] | Handler,
        *,
        urgent: bool = True,
        now: bool = False,
    ) -> None:
        """``send`` for a command in RESP already. A command nobody waits for (not
        ``urgent``) leaves with the next urgent one, or after ``LAZY_SECONDS``: a socket
        write costs more than the command. With ``now``, it leaves at once (with whatever
        waits to leave): its round trip starts before the caller next yields to the loop."""
        if self.closed:
            _deliver(to, self.lost or ConnectionResetError("Redis connection closed"))
            return
        self._out.append(command)
        self._waiting.append(to)
        if now:
            self._flush()
        elif urgent:
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        elif self._lazy is None and not self._flush_scheduled:
            self._lazy = self._loop.call_later(LAZY_SECONDS, self._flush)
        if self._timer is None:
            self._arm(self._answered)

    @property
    def idle(self) -> bool:
        """Open, with every command written answered (posted ones not written yet aside)."""
        return not self.closed and len(self._waiting) == len(self._out)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._lazy is not None:
            self._lazy.cancel()
            self._lazy = None
        out, self._out = self._out, []
        if out and self._transport is not None and not self.closed:
            self._transport.write(b"".join(out))

    def _arm(self, seen: int) -> None:
        """The timeout's next check: fails the connection if no answer comes by then."""
        due = self._loop.time() + self._timeout
        self._timer = self._loop.call_later(self._timeout, self._check, seen, due, due)

    def _check(self, seen: int, due: float, first_due: float) -> None:
        self._timer = None
        if not self._waiting or self.closed:
            return
        if self._answered != seen:
            self._arm(self._answered)
            return
        now = self._loop.time()
        # A check that runs late found the loop held up (a long callback, a collection):
        # Redis's answer may be in the socket unread, and uvloop runs the timers that are
        # due before it polls the sockets again. So it looks again once they have been
        # polled: always after the first check, and within one more timeout after that.
        if now - due > _LATE and (due == first_due or now - first_due < self._timeout):
            self._timer = self._loop.call_later(_LATE, self._check, seen, now + _LATE, first_due)
            return
        self._fail(TimeoutError(f"Redis did not answer within {self._timeout} s"))

    def _fail(self, exc: BaseException) -> None:
        if not self.closed:
            self.closed = True
            self.lost = exc
            if self._transport is not None:
                self._transport.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lazy is not None:
            self._lazy.cancel()
            self._lazy = None
        waiting, self._waiting = self._waiting, deque()
        for to in waiting:
            _deliver(to, exc)

    def close(self) -> None:
        self._fail(ConnectionResetError("Redis client closed"))


def _deliver(to: asyncio.Future[Any] | Handler, answer: Any) -> None:
    if isinstance(to, asyncio.Future):
        if to.done():
            return
        if isinstance(answer, BaseException):
            to.set_exception(answer)
        else:
            to.set_result(answer)
    else:
        try:
            to(answer)
        except Exception:  # a handler's bug must not break the connection's reading
            log.exception("a Redis answer's handler failed")


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and its SHA-1 (what ``EVALSHA`` names it by)."""

    text: bytes
    sha: bytes

    @classmethod
    def of(cls, text: str) -> Script:
        data = text.encode()
        return cls(data, hashlib.sha1(data).hexdigest().encode())


@dataclass(frozen=True, slots=True)
class Prepared:
    """A script with its keys and its first arguments, which stay the same from run to run
    (a rate-limit rule list's counters and limits), packed once: a run packs only the
    ``more`` arguments it adds."""

    script: Script
    keys: tuple[Arg, ...]
    args: tuple[Arg, ...]
    more: int
    head: bytes  # EVALSHA, its SHA-1, the keys and ``args``, under the whole array's header

    @classmethod
    def of(cls, script: Script, keys: Sequence[Arg], args: Sequence[Arg], more: int) -> Prepared:
        fixed = (b"EVALSHA", script.sha, len(keys), *keys, *args)
        head = b"*%d\r\n" % (len(fixed) + more) + pack_items(fixed)
        return cls(script, tuple(keys), tuple(args), more, head)

    def command(self, more: Sequence[Arg]) -> bytes:
        if len(more) != self.more:
            raise ValueError(f"this script takes {self.more} more arguments, not {len(more)}")
        return self.head + pack_items(more)

    def by_text(self, more: Sequence[Arg]) -> tuple[Arg, ...]:
        """The same run as ``EVAL`` (the script's text), for a Redis that lost it."""
        return (b"EVAL", self.script.text, len(self.keys), *self.keys, *self.args, *more)


class Pipelined:
    """A client for one Redis: one connection at a time, made on first use and made again
    after it failed."""

    def __init__(self, url: str, timeout: float) -> None:
        self._target = parse_url(url)
        self._timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._later: set[asyncio.Task[None]] = set()
        self._posted = 0  # commands posted whose handler has not run yet

    async def call(self, *args: Arg) -> Any:
        """One command's answer; raises ``ReplyError`` for an error answer, ``OSError`` or
        ``TimeoutError`` when Redis cannot be reached."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.send(args, future)
        return await future

    def post(self, args: Sequence[Arg], handler: Handler) -> None:
        """Send a command without waiting for it: its answer (or the exception that lost
        it) goes to ``handler``."""
        self._posted += 1

        def answered(answer: Any) -> None:
            self._posted -= 1
            handler(answer)

        self._post_packed(pack(args), answered)

    def _post_packed(self, command: bytes, handler: Handler, urgent: bool = False) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.send_packed(command, handler, urgent=urgent)
            return
        task = asyncio.get_running_loop().create_task(self._post_later(command, handler, urgent))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _post_later(self, command: bytes, handler: Handler, urgent: bool) -> None:
        try:
            conn = await self._connect()
        except (OSError, TimeoutError, ReplyError) as exc:
            handler(exc)
            return
        conn.send_packed(command, handler, urgent=urgent)

    async def run(self, prepared: Prepared, more: Sequence[Arg]) -> Any:
        """The script's answer: by its SHA-1, and by its text when Redis lost it (a restart,
        ``SCRIPT FLUSH``), which caches it again."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.send_packed(prepared.command(more), future)
        try:
            return await future
        except ReplyError as exc:
            if exc.code != "NOSCRIPT":
                raise
        return await self.call(*prepared.by_text(more))

    def send_ahead(self, prepared: Prepared, more: Sequence[Arg]) -> asyncio.Future[Any] | None:
        """The script written at once, when the connection is idle (nothing in flight), its
        answer to come in the future returned (an error answer, ``NOSCRIPT`` included, as
        the exception: ``run`` again then); None when it is busy or not connected: a busy
        connection's answers come in order, and a command written early gains little."""
        conn = self._conn
        if conn is None or not conn.idle:
            return None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.send_packed(prepared.command(more), future, now=True)
        return future

    def post_script(
        self, prepared: Prepared, more: Sequence[Arg], handler: Handler, urgent: bool = False
    ) -> None:
        """``run`` without waiting: the answer goes to ``handler``. Not ``urgent``, the
        script leaves with the next urgent command, or after ``LAZY_SECONDS``."""
        self._posted += 1

        def answered(answer: Any) -> None:
            if isinstance(answer, ReplyError) and answer.code == "NOSCRIPT":
                self._post_packed(pack(prepared.by_text(more)), answered, urgent)
                return
            self._posted -= 1
            handler(answer)

        self._post_packed(prepared.command(more), answered, urgent)

    async def _connect(self) -> _Connection:
        """The connection, made once for every caller that needs it meanwhile."""
        connecting = self._connecting
        if connecting is None:
            connecting = self._connecting = asyncio.ensure_future(self._open_within())
            connecting.add_done_callback(self._connected)
        # Shielded: a caller cancelled meanwhile does not cancel the others' connection.
        return await asyncio.shield(connecting)

    def _connected(self, connecting: asyncio.Future[_Connection]) -> None:
        self._connecting = None
        if not connecting.cancelled() and connecting.exception() is None:
            self._conn = connecting.result()

    async def _open_within(self) -> _Connection:
        return await asyncio.wait_for(self._open(), self._timeout)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        target = self._target
        conn = (await dial(target, lambda: _Connection(loop, self._timeout)))[1]
        hello: list[asyncio.Future[Any]] = []
        auth = auth_command(target)
        if auth is not None:
            hello.append(loop.create_future())
            conn.send(auth, hello[-1])
        if target.db:
            hello.append(loop.create_future())
            conn.send((b"SELECT", target.db), hello[-1])
        try:
            for future in hello:
                await future  # an error answer raises
        except BaseException:
            conn.close()
            raise
        return conn

    async def sync(self) -> None:
        """Return once every command posted so far is answered (or lost): a ``PING`` is
        answered after every command sent before it, and a script sent again by its text
        is sent after the first ``PING``, so this may take a few."""
        for _ in range(10):
            if self._later:
                await asyncio.gather(*self._later, return_exceptions=True)
            if not self._posted or self._conn is None or self._conn.closed:
                return
            await self.call(b"PING")

    async def close(self) -> None:
        if self._later:
            await asyncio.gather(*self._later, return_exceptions=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
