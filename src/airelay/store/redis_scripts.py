"""Redis for the gateway's own uses: Lua scripts on the hot path (the rate-limit counters,
the console's sign-in throttle) and plain commands (session affinity, the configuration
bus's ``PUBLISH``, readiness' ``PING``), through one of two clients behind one interface:

- ``resp.Pipelined`` (the default): one connection, commands pipelined; a fraction of
  redis-py's cost per command (see its docstring for what was measured).
- redis-py, the library, for what the pipelined client does not speak (``rediss://``) and
  when ``AIRELAY_REDIS_CLIENT=redis-py`` asks for it.

Both take the same timeout (``AIRELAY_REDIS_TIMEOUT``; ``redis_client.TIMEOUT_SECONDS`` by
default) and make no retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airelay.store import resp
from airelay.store.redis_client import TIMEOUT_SECONDS, connect, failures
from airelay.store.resp import Arg, Handler, Prepared

if TYPE_CHECKING:
    from redis.asyncio import Redis

Client = Literal["pipelined", "redis-py"]
#: The URL schemes the pipelined client speaks.
PIPELINED_SCHEMES = ("redis://", "unix://")


class Scripts(Protocol):
    #: Whether ``holder`` can name the connection the answers come on.
    holds: bool

    async def call(self, *args: Arg) -> Any:
        """One command's answer (bytes, int, None or a list; redis-py may turn some into
        ``bool``); raises what ``failed`` recognises when Redis cannot be reached or
        answers an error."""
        ...

    async def run(self, prepared: Prepared, more: Sequence[Arg]) -> Any:
        """The script's answer with ``more`` arguments after the prepared ones; raises what
        ``failed`` recognises when Redis cannot be reached."""
        ...

    def post_script(
        self, prepared: Prepared, more: Sequence[Arg], handler: Handler, urgent: bool = False
    ) -> None:
        """Run the script without waiting: its answer, or the exception that lost it, goes
        to ``handler``. Not ``urgent``, it may wait a few milliseconds to leave with other
        commands (a socket write costs more than a script); ``urgent``, it leaves within
        this turn of the event loop (calls may soon wait for its answer)."""
        ...

    def send_ahead(self, prepared: Prepared, more: Sequence[Arg]) -> asyncio.Future[Any] | None:
        """Send the script now, before the caller next yields to the event loop, where the
        client can and it is worth it (an idle connection; else None: ``run`` it); its
        answer comes in the future returned."""
        ...

    async def sync(self) -> None:
        """Return once every script posted so far has run."""
        ...

    def failed(self, exc: BaseException) -> bool:
        """Whether ``exc`` is Redis out of reach (or refusing: an error answer)."""
        ...

    def holder(self) -> object | None:
        """The open connection the answers come on, as long as it stays open (a grant of
        the rate-limit counters belongs to it: ``limit_lease``); None when none is open, or
        when the client cannot tell one connection from the next."""
        ...

    async def close(self) -> None: ...


class PipelinedScripts(resp.Pipelined):
    holds = True

    def failed(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError | TimeoutError | resp.ReplyError)

    def holder(self) -> object | None:
        conn = self._conn
        return None if conn is None or conn.closed else conn


class LibraryScripts:
    """The same through redis-py: a pooled connection per command in flight."""

    holds = False

    def __init__(self, url: str, timeout: float) -> None:
        self._client: Redis = connect(url, timeout)
        self._pending: set[asyncio.Task[None]] = set()

    async def call(self, *args: Arg) -> Any:
        return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def run(self, prepared: Prepared, more: Sequence[Arg]) -> Any:
        if self._pending:
            # What was posted before runs before: redis-py sends each command on a pooled
            # connection of its own, and Redis may serve two connections in either order
            # (a call's end, posted, must be counted before the next call's take).
            await asyncio.wait(list(self._pending))
        return await self._run(prepared, more)

    async def _run(self, prepared: Prepared, more: Sequence[Arg]) -> Any:
        from redis.exceptions import NoScriptError

        script, keys = prepared.script, prepared.keys
        args = (*prepared.args, *more)
        try:
            return await self._client.evalsha(script.sha.decode(), len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.eval(script.text.decode(), len(keys), *keys, *args)

    def send_ahead(self, prepared: Prepared, more: Sequence[Arg]) -> asyncio.Future[Any] | None:
        return None  # a pooled connection is only had by awaiting

    def post_script(
        self, prepared: Prepared, more: Sequence[Arg], handler: Handler, urgent: bool = False
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._post(prepared, more, handler))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, prepared: Prepared, more: Sequence[Arg], handler: Handler) -> None:
        try:
            answer = await self._run(prepared, more)
        except Exception as exc:
            if not self.failed(exc):
                raise
            answer = exc
        handler(answer)

    async def sync(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def failed(self, exc: BaseException) -> bool:
        return isinstance(exc, failures())

    def holder(self) -> object | None:
        return None  # a pool: which connection answered is not known

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()


def open_scripts(
    url: str, client: Client = "pipelined", timeout: float = TIMEOUT_SECONDS
) -> Scripts:
    """The scripts client for ``url``: pipelined when it speaks the URL, else redis-py."""
    if client == "pipelined" and url.startswith(PIPELINED_SCHEMES):
        return PipelinedScripts(url, timeout)
    return LibraryScripts(url, timeout)
