"""Short-lived access tokens per upstream key (Vertex AI service accounts, Azure AD client
credentials), as ``providers.base`` describes them: ``header(key, egress)`` is what a
``per_call`` provider's ``finish`` reads, a dict lookup and a clock read per call.

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

The fetch runs once per token life per key, off every call's path, and goes out the way
the channel's calls do: through the ``Egress`` the call's ``finish`` got (the channel's
proxy and TLS options). A token is kept per key *and* egress: channels that share a key but
not their way out fetch their own (one whose proxy fails does not fail the other's calls).
Tasks belong to the running event loop; a cache used from another loop (tests run a
gateway per thread) forgets the tasks of the old one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from airelay.providers.base import CredentialError, CredentialPending, Egress

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


Fetch = Callable[[str, Egress], Awaitable[Token]]
_Slot = tuple[str, Egress]  # a key and the way its tokens are fetched


class Tokens:
    """The tokens of one kind of credential, per key and egress. ``fetch(key, egress)``
    gets a new one (raises ``CredentialError``); ``clock`` is monotonic seconds."""

    def __init__(self, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.clock = clock
        self._entries: dict[_Slot, _Entry] = {}
        self._tasks: dict[_Slot, asyncio.Task[None]] = {}
        self._failed_at: dict[_Slot, float] = {}
        #: How many times a call had to wait for a token (tests: refreshes never wait).
        self.waits = 0

    def header(self, key: str, egress: Egress) -> str:
        """The current token's header value for ``key`` fetched through ``egress``; raises
        ``CredentialPending`` when there is none to use yet."""
        slot = (key, egress)
        entry = self._entries.get(slot)
        now = self.clock()
        if entry is not None and now < entry.stale_at:
            if now >= entry.refresh_at:
                self._refresh_in_background(slot, now)
            return entry.header
        self.waits += 1
        raise CredentialPending(self._task(slot))

    def current(self, key: str) -> str | None:
        """The header value ``key`` has now through any egress, without starting anything
        (tests: a key of one channel has one)."""
        for (held, _), entry in list(self._entries.items()):
            if held == key:
                return entry.header
        return None

    def clear(self) -> None:
        """Forget every token (tests)."""
        self._entries.clear()
        self._tasks.clear()
        self._failed_at.clear()

    def _refresh_in_background(self, slot: _Slot, now: float) -> None:
        task = self._tasks.get(slot)
        if task is not None and _usable(task):
            return
        failed = self._failed_at.get(slot)
        if failed is not None and now - failed < RETRY_SECONDS:
            return
        self._task(slot)

    def _task(self, slot: _Slot) -> asyncio.Task[None]:
        task = self._tasks.get(slot)
        if task is None or not _usable(task):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise CredentialError("a token is fetched in the event loop only") from None
            task = self._tasks[slot] = loop.create_task(self._refresh(slot))
            task.add_done_callback(_quiet)
        return task

    async def _refresh(self, slot: _Slot) -> None:
        started = self.clock()
        try:
            token = await self._fetch(*slot)
        except Exception as exc:
            error = exc if isinstance(exc, CredentialError) else unreachable(exc)
            self._failed_at[slot] = self.clock()
            log.warning("access token refresh failed: %s", error)
            raise error from None
        finally:
            if self._tasks.get(slot) is asyncio.current_task():
                del self._tasks[slot]
        life = max(token.seconds, 0.0)
        self._entries[slot] = _Entry(
            token.header,
            refresh_at=started + life * REFRESH_AT,
            stale_at=started + life - min(life * MARGIN, MAX_MARGIN),
        )
        self._failed_at.pop(slot, None)


def unreachable(exc: BaseException) -> CredentialError:
    """A fetch that failed otherwise than its own way (a connection error, a TLS handshake
    the channel's options refused, a timeout): its type only, as its text may quote the
    request."""
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
