"""The background poller: every instance runs one, and each task is polled by one at a time.

Each tick an instance lists the open tasks whose next poll is due and whose lease has run
out, and claims each with a conditional UPDATE (``store.video_tasks.claim``): of several
instances only one changes the row. It then asks the upstream, and either closes the task
(settle or refund: themselves exactly-once, guarded by ``settled_at``) or records its
progress, schedules the next poll with backoff and frees the lease. A killed instance's
leases run out and another instance (or the same one restarted) takes its tasks over.

Also closed here: a task whose creation never finished (the instance died between the
reservation and the upstream's answer; refunded), one past the maximum wait (refunded, and
so is one whose channel is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import video_money
from airelay.client import Timeouts
from airelay.formats.video import TaskStatus
from airelay.providers.video_registry import video_tasks
from airelay.store import video_tasks as task_store
from airelay.store.snapshot import ConfigCache
from airelay.store.unavailable import OutageLog
from airelay.transport.choice import Transports
from airelay.videos.service import VideoSettings
from airelay.videos.upstream import Unreachable, fetch, key_for

log = logging.getLogger(__name__)

BATCH = 20  # tasks claimed per tick and instance
BACKOFF = 1.5  # each poll of a running task waits this much longer than the one before
MAX_DELAY_FACTOR = 12  # ... up to this many poll intervals


def next_delay(poll_seconds: float, polls: int) -> float:
    """Seconds until the next poll of a task polled ``polls`` times: the interval, growing
    by ``BACKOFF`` per poll up to ``MAX_DELAY_FACTOR`` intervals."""
    return poll_seconds * min(BACKOFF ** min(polls, 32), MAX_DELAY_FACTOR)


class VideoPoller:
    def __init__(
        self,
        engine: AsyncEngine,
        cache: ConfigCache,
        transports: Transports,
        settings: VideoSettings,
        owner: str,
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._transports = transports
        self._settings = settings
        self.owner = owner
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop polling; a poll in flight keeps its lease, which runs out for the next."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        tick = min(1.0, self._settings.poll_seconds)
        outages = OutageLog(log, "video task polling")
        while True:
            try:
                await self.poll_due()
                outages.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away: the next tick
                outages.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick)
            self._wake.clear()

    async def poll_due(self) -> int:
        """Claim and poll the tasks due now; returns how many were polled."""
        now = int(time.time())
        async with self._engine.connect() as conn:
            ids = await task_store.due(conn, now, BATCH)
        polled = 0
        for task_id in ids:
            async with self._engine.begin() as conn:
                row = await task_store.claim(
                    conn, task_id, self.owner, now, self._settings.lease_seconds
                )
            if row is None:
                continue  # another instance has it
            polled += 1
            try:
                await self._poll(row)
            except Exception:
                # Its lease runs out and the task is tried again; logged, never lost.
                log.exception("polling video task %s failed", task_id)
        return polled

    async def _poll(self, row: dict[str, Any]) -> None:
        task_id = row["id"]
        now = time.time()
        if row["upstream_id"] is None:
            await video_money.refund(
                self._engine,
                task_id,
                status=TaskStatus.FAILED,
                error_code="submission_interrupted",
                error_message="The gateway stopped before the upstream took the task.",
            )
            return
        if now - row["created_at"] > self._settings.max_wait_seconds:
            await video_money.refund(
                self._engine,
                task_id,
                status=TaskStatus.FAILED,
                error_code="timeout",
                error_message="The video was not ready in time.",
            )
            return
        snapshot = self._cache.current
        channel = next((c for c in snapshot.channels if c.id == row["channel_id"]), None)
        adapter = video_tasks(channel.type) if channel is not None else None
        if channel is None or adapter is None:
            await video_money.refund(
                self._engine,
                task_id,
                status=TaskStatus.FAILED,
                error_code="channel_removed",
                error_message="The channel that took this task was removed.",
            )
            return
        key = key_for(channel, row["key_hash"])
        request = adapter.poll(channel.base_url, key, row["upstream_id"])
        wait = max(1.0, self._settings.lease_seconds / 2)
        status = TaskStatus(row["status"])
        progress = int(row["progress"])
        try:
            code, body = await fetch(
                self._transports.for_channel(channel),
                request,
                Timeouts(connect=min(10.0, wait), read=wait, total=wait),
            )
            if code == 200:
                state = adapter.status(body)
                if state.status is TaskStatus.SUCCEEDED:
                    await video_money.settle(
                        self._engine,
                        task_id,
                        reported_seconds=state.seconds,
                        video_url=state.video_url,
                    )
                    return
                if state.status.terminal:
                    await video_money.refund(
                        self._engine,
                        task_id,
                        status=state.status,
                        error_code=state.error_code or "upstream_failed",
                        error_message=(state.error_message or "The upstream task failed.")[:1000],
                    )
                    return
                status, progress = state.status, state.progress
            elif code == 404:
                await video_money.refund(
                    self._engine,
                    task_id,
                    status=TaskStatus.FAILED,
                    error_code="upstream_lost",
                    error_message="The upstream no longer knows this task.",
                )
                return
            else:
                log.warning("video task %s: the upstream answered %d to a poll", task_id, code)
        except (Unreachable, ValueError) as exc:
            log.warning("video task %s: poll failed (%s); trying again later", task_id, exc)
        delay = next_delay(self._settings.poll_seconds, int(row["polls"]))
        async with self._engine.begin() as conn:
            await task_store.reschedule(
                conn,
                task_id,
                self.owner,
                status=str(status),
                progress=progress,
                next_poll_at=math.ceil(time.time() + delay),
                at=int(time.time()),
            )
