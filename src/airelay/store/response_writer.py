"""Writing stored responses off the request's path, and reading them back at once.

``POST /v1/responses`` with ``store`` hands its answer to ``add`` (a dict insert, no await)
and answers without waiting on the database. The writer flushes what is pending in one
batch as soon as something is (at most every ``flush_interval``), as the billing flush does
for usage rows; a failed flush keeps the batch pending and retries it.

Read-your-write: every read of this process (``find``, ``chain``, ``delete``) consults
the pending batch before the database, so a GET or a continuation right after a completed
response finds it, on any connection to this instance. Another instance sees it once it is
flushed, a few tens of milliseconds later. (The alternative, making the POST await the
write after its last byte, would still hold the request's handler, and its connection's
next request, on a database round trip, and gives nothing more across instances.)

A write that is pending when the process is killed is lost: the client got its answer, and
a later GET of it answers 404, as it would after expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store import responses
from airelay.store.responses import BrokenChain, StoredResponse
from airelay.store.unavailable import OutageLog, unavailable

log = logging.getLogger(__name__)


class ResponseWriter:
    """The pending stored responses of this process and the task that writes them."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        flush_interval: float = 0.05,
        retry_seconds: float = 1.0,
        max_pending: int = 10_000,
    ) -> None:
        self._engine = engine
        self._flush_interval = flush_interval
        self._retry_seconds = retry_seconds
        self._max_pending = max_pending
        # Insertion order is age order: the oldest goes first when the cap is reached.
        self._pending: dict[str, StoredResponse] = {}
        self._dropped = 0
        # Held by a flush and by a delete: a delete never runs between a flush's read of the
        # pending batch and its commit (the row would come back).
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- the request's side ------------------------------------------------------------

    def add(self, stored: StoredResponse) -> None:
        """Queue ``stored`` to be written; readable at once through this writer."""
        if len(self._pending) >= self._max_pending and stored.id not in self._pending:
            # The database has been away for long: keep memory bounded, lose the oldest.
            del self._pending[next(iter(self._pending))]
            self._dropped += 1
        self._pending[stored.id] = stored
        self._wake.set()

    def pending(self, user_id: str, response_id: str, now: int) -> StoredResponse | None:
        stored = self._pending.get(response_id)
        if stored is None or stored.user_id != user_id or stored.expires_at <= now:
            return None
        return stored

    async def find(self, user_id: str, response_id: str, now: int) -> StoredResponse | None:
        """The user's unexpired response, pending or written; None for another user's."""
        stored = self.pending(user_id, response_id, now)
        if stored is not None:
            return stored
        async with self._engine.connect() as conn:
            return await responses.get(conn, user_id, response_id, now)

    async def chain(self, user_id: str, response_id: str, now: int) -> list[StoredResponse]:
        """``response_id`` and its predecessors, newest first (pending ones included);
        empty when it is not the user's; ``BrokenChain`` when an older one is gone."""
        found: list[StoredResponse] = []
        next_id: str | None = response_id
        while next_id is not None and len(found) <= responses.MAX_CHAIN:
            stored = self.pending(user_id, next_id, now)
            if stored is not None:
                found.append(stored)
                next_id = stored.previous_response_id
                continue
            try:
                async with self._engine.connect() as conn:
                    written = await responses.chain(conn, user_id, next_id, now)
            except BrokenChain as broken:
                written = broken.found
                if self.pending(user_id, broken.missing, now) is None:
                    raise BrokenChain(broken.missing, found + written) from None
            if not written:
                if found:
                    raise BrokenChain(next_id, found)
                return []
            found.extend(written)
            next_id = written[-1].previous_response_id
        return found

    async def delete(self, user_id: str, response_id: str, now: int) -> bool:
        """Delete the user's unexpired response, pending or written; whether it existed."""
        async with self._lock:
            stored = self.pending(user_id, response_id, now)
            if stored is not None:
                del self._pending[response_id]
            async with self._engine.begin() as conn:
                deleted = await responses.delete(conn, user_id, response_id, now)
        return stored is not None or deleted

    # -- the background side -----------------------------------------------------------

    async def flush(self) -> None:
        """Write everything pending in one transaction; on failure it stays pending."""
        async with self._lock:
            batch = list(self._pending.values())
            if not batch:
                return
            try:
                async with self._engine.begin() as conn:
                    await responses.save(conn, batch)
            except Exception as exc:
                if unavailable(exc):
                    raise  # kept pending, retried as it is
                # Not an outage: one row the database refuses must not hold back the rest
                # for ever. Each alone; a refused one is dropped, with its error logged.
                await self._save_one_by_one(batch)
            for stored in batch:
                if self._pending.get(stored.id) is stored:
                    del self._pending[stored.id]

    async def _save_one_by_one(self, batch: list[StoredResponse]) -> None:
        for stored in batch:
            try:
                async with self._engine.begin() as conn:
                    await responses.save(conn, [stored])
            except Exception as exc:
                if unavailable(exc):
                    raise
                log.error(
                    "stored response %s dropped: the database refused it", stored.id, exc_info=exc
                )

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="responses-writer")

    async def stop(self) -> None:
        """Stop the task and write what is pending (logged, not raised, if it cannot be)."""
        if self._task is not None:
            # Not cancelled: a flush cancelled inside its transaction would leave a SQLite
            # write lock behind.
            self._stopping.set()
            self._wake.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.error("stored responses: %d not written at shutdown: %s", len(self._pending), exc)

    async def _run(self) -> None:
        outages = OutageLog(log, "stored responses flush")
        while not self._stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            delay = self._flush_interval
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away: retry the batch
                outages.failed(exc)
                delay = self._retry_seconds
                self._wake.set()
            else:
                outages.succeeded()
            if self._dropped:
                log.warning("stored responses: %d dropped, the database was away", self._dropped)
                self._dropped = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
