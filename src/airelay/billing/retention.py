"""Expiry of raw usage rows older than the retention period; the daily rollups stay, so
totals, summaries and spend keep their history. The same task deletes stored Responses API
answers past their expiry (each row carries its own, set when it was stored); reads never
return an expired one, so the deletes only reclaim space. And it deletes finished video
tasks (their money closed) once they are as old as a stored response may get
(``responses_retention_days``): a task is an answer its user reads back by id, as a stored
response is, and its charge lives on in the usage rows; an open task is never deleted.

Every instance may run it: the deletes are idempotent, in small batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store import responses as stored_responses
from airelay.store import video_tasks
from airelay.store.unavailable import OutageLog
from airelay.store.usage_queries import delete_older_than

log = logging.getLogger(__name__)

DAY_SECONDS = 86400


class UsageRetention:
    """Deletes raw usage rows older than ``days`` at start and then every ``interval``
    seconds, expired stored responses when ``responses``, and video tasks finished more
    than ``video_days`` ago; ``days`` (``video_days``) of 0 (or less) keeps usage rows
    (finished tasks) for ever, and with nothing to delete starts nothing."""

    def __init__(
        self,
        engine: AsyncEngine,
        days: int,
        *,
        responses: bool = False,
        video_days: int = 0,
        interval: float = 3600.0,
        batch: int = 10000,
    ) -> None:
        self._engine = engine
        self.days = days
        self.responses = responses
        self.video_days = video_days
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if (self.days > 0 or self.responses or self.video_days > 0) and self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-retention")

    async def stop(self) -> None:
        if self._task is not None:
            # Not cancelled mid-delete: a SQLite transaction cancelled halfway leaves its
            # write lock behind, and the billing flush at shutdown would wait on it.
            self._stopping.set()
            await self._task
            self._task = None

    async def run_once(self, now: float | None = None) -> int:
        """Delete what has expired as of ``now``; returns how many rows went (raw usage
        rows, stored responses and finished video tasks)."""
        at = int(now if now is not None else time.time())
        deleted = 0
        if self.days > 0:
            async with self._engine.connect() as conn:
                deleted = await delete_older_than(conn, at - self.days * DAY_SECONDS, self._batch)
            if deleted:
                log.info(
                    "usage retention: deleted %d raw rows older than %d days", deleted, self.days
                )
        if self.responses:
            async with self._engine.connect() as conn:
                pruned = await stored_responses.prune(conn, at)
            if pruned:
                log.info("responses retention: deleted %d expired stored responses", pruned)
            deleted += pruned
        if self.video_days > 0:
            cutoff = at - self.video_days * DAY_SECONDS
            async with self._engine.connect() as conn:
                gone = await video_tasks.prune_finished(conn, cutoff, self._batch)
            if gone:
                log.info(
                    "video retention: deleted %d tasks finished over %d days ago",
                    gone,
                    self.video_days,
                )
            deleted += gone
        return deleted

    async def _run(self) -> None:
        outages = OutageLog(log, "usage retention")
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away; try again next time
                outages.failed(exc)
            else:
                outages.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
                return
