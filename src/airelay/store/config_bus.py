"""Configuration changes announced to every instance through Redis pub/sub.

Every instance polls the database's configuration version (``config_poll_seconds``, 1 s by
default), so a revoked key could still answer on another instance for up to that long.
With ``AIRELAY_REDIS_URL`` set, the instance that wrote a change also publishes the new
version on one channel; every instance listens and catches up at once (``ConfigCache``:
the changed entities alone, read from the database, which stays the one source of truth).
The message carries nothing but the version: an instance that misses it (Redis down, a
reconnect) still catches up on its next poll, which is why the poll stays.

The listener holds a connection of its own (``redis_subscriber``) that waits for messages
as long as it takes, checking an idle connection with a ``PING``, and reconnects after a
second when Redis goes away; publishing is best effort and never fails the write that was
already committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from airelay.store.redis_client import TIMEOUT_SECONDS
from airelay.store.redis_scripts import Scripts, open_scripts
from airelay.store.redis_subscriber import messages
from airelay.store.resp import ReplyError

log = logging.getLogger(__name__)

CHANNEL = b"airelay:config"
RECONNECT_SECONDS = 1.0

OnVersion = Callable[[str], Awaitable[None]]


class ConfigBus:
    """Publishes configuration versions and delivers the ones other instances publish."""

    def __init__(
        self,
        url: str,
        reconnect_seconds: float = RECONNECT_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._reconnect = reconnect_seconds
        self._timeout = timeout  # Redis's (a connection, an answer)
        self._publisher: Scripts = open_scripts(url, timeout=timeout)
        self._task: asyncio.Task[None] | None = None
        self._down = False

    async def publish(self, version: str) -> None:
        """Announce ``version``; a failure is logged (once per outage) and otherwise
        ignored: the other instances' polls deliver the change instead."""
        try:
            await self._publisher.call(b"PUBLISH", CHANNEL, version.encode("ascii"))
        except Exception as exc:
            if not self._publisher.failed(exc):
                raise
            self._failed(exc)
        else:
            self._recovered()

    def start(self, on_version: OnVersion) -> None:
        """Call ``on_version`` with every version published (by any instance, this one
        included) until ``close``."""
        self._task = asyncio.create_task(self._listen(on_version))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._publisher.close()

    async def _listen(self, on_version: OnVersion) -> None:
        while True:
            try:
                await self._subscribed(on_version)
            except (OSError, TimeoutError, ReplyError) as exc:
                self._failed(exc)
            await asyncio.sleep(self._reconnect)

    async def _subscribed(self, on_version: OnVersion) -> None:
        subscribed = messages(self._url, CHANNEL, self._timeout, self._recovered)
        try:
            async for data in subscribed:
                await _deliver(on_version, data.decode("ascii", "replace"))
        finally:
            await subscribed.aclose()

    def _failed(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("configuration bus: Redis unavailable (%s); polling only", exc)
        self._down = True

    def _recovered(self) -> None:
        if self._down:
            log.info("configuration bus: Redis reachable again")
        self._down = False


async def _deliver(on_version: OnVersion, version: str) -> None:
    """One message to the cache; a failure to catch up (the database out of reach) is the
    cache's to log and the poll's to retry, never the end of the listener."""
    try:
        await on_version(version)
    except Exception:
        log.debug("configuration bus: catching up failed; the poll will retry", exc_info=True)


async def announce_current(
    database_url: str, redis_url: str, timeout: float = TIMEOUT_SECONDS
) -> None:
    """Publish the database's current version: for a writer that is not a serving instance
    (``airelay channels import``), so that the instances catch up now, not at their poll."""
    from airelay.store import meta
    from airelay.store.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            version = await meta.config_version(conn)
    finally:
        await engine.dispose()
    bus = ConfigBus(redis_url, timeout=timeout)
    try:
        await bus.publish(version)
    finally:
        await bus.close()
