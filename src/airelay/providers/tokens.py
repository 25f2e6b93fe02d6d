"""Short-lived access tokens per upstream key (Vertex AI service accounts, Azure AD client
credentials), as ``providers.base`` describes them: ``header(key)`` is what a ``per_call``
provider's ``finish`` reads, a dict lookup and a clock read per call.

- A token is used until shortly before it expires (``MARGIN`` of its life, at most
  ``MAX_MARGIN`` seconds: a request must not reach the upstream after its token did).
- Past ``REFRESH_AT`` of its life, the first call that reads it starts a refresh in a
  background task and still gets the current token: calls never wait for a refresh.
- A key without a usable token (its first call, or a token that ran out while its refresh
  failed) makes ``header`` raise ``CredentialPending`` with the refresh's task, shared by
  every call of that key that comes meanwhile; the relay awaits it and builds again.
- A failed refresh raises ``CredentialError`` to the calls awaiting it (its message names
  the token endpoint's status and error code, never the secret); a failed background
  refresh is logged the same way and tried again by a later call, at most every
  ``RETRY_SECONDS``.

The fetch itself is blocking (google-auth's own transport, a plain HTTPS form post for
Azure AD) and runs in a worker thread, once per token life per key: off every call's path.
Tasks belong to the running event loop; a cache used from another loop (tests run a
gateway per thread) forgets the tasks of the old one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from airelay.providers.base import CredentialError, CredentialPending

REFRESH_AT = 0.8
MARGIN = 0.1
MAX_MARGIN = 60.0
RETRY_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Token:
    """What a fetch gives: the header value to send (``Bearer ...``) and its life."""

    header: str
    seconds: float


@dataclass(frozen=True, slots=True)
class _Entry:
    header: str
    refresh_at: float
    stale_at: float


class Tokens:
    """The tokens of one kind of credential, per key. ``fetch(key)`` gets a new one
    (blocking; raises ``CredentialError``); ``clock`` is monotonic seconds."""

    def __init__(
        self,
        fetch: Callable[[str], Token],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed_at: dict[str, float] = {}
        #: How many times a call had to wait for a token (tests: refreshes never wait).
        self.waits = 0

    def header(self, key: str) -> str:
        """The current token's header value for ``key``; raises ``CredentialPending`` when
        there is none to use yet."""
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now < entry.stale_at:
            if now >= entry.refresh_at:
                self._refresh_in_background(key, now)
            return entry.header
        self.waits += 1
        raise CredentialPending(self._task(key))

    def current(self, key: str) -> str | None:
        """The header value ``key`` has now, without starting anything (tests)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.header

    def clear(self) -> None:
        """Forget every token (tests)."""
        self._entries.clear()
        self._tasks.clear()
        self._failed_at.clear()

    def _refresh_in_background(self, key: str, now: float) -> None:
        task = self._tasks.get(key)
        if task is not None and _usable(task):
            return
        failed = self._failed_at.get(key)
        if failed is not None and now - failed < RETRY_SECONDS:
            return
        self._task(key)

    def _task(self, key: str) -> asyncio.Task[None]:
        task = self._tasks.get(key)
        if task is None or not _usable(task):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise CredentialError("a token is fetched in the event loop only") from None
            task = self._tasks[key] = loop.create_task(self._refresh(key))
            task.add_done_callback(_quiet)
        return task

    async def _refresh(self, key: str) -> None:
        started = self.clock()
        try:
            token = await asyncio.to_thread(self._fetch, key)
        except Exception as exc:
            error = exc if isinstance(exc, CredentialError) else _unexpected(exc)
            self._failed_at[key] = self.clock()
            log.warning("access token refresh failed: %s", error)
            raise error from None
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
        life = max(token.seconds, 0.0)
        self._entries[key] = _Entry(
            token.header,
            refresh_at=started + life * REFRESH_AT,
            stale_at=started + life - min(life * MARGIN, MAX_MARGIN),
        )
        self._failed_at.pop(key, None)


def _unexpected(exc: Exception) -> CredentialError:
    """A fetch that failed otherwise than its own way (a connection error): its type only,
    as its text may quote the request."""
    return CredentialError(f"the token endpoint could not be reached ({type(exc).__name__})")


def _usable(task: asyncio.Task[None]) -> bool:
    """A task of the running loop that has not ended."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return task.get_loop() is loop and not task.done()


def _quiet(task: asyncio.Task[None]) -> None:
    """A background refresh's failure is logged where it happens, not as never retrieved."""
    if not task.cancelled():
        task.exception()
