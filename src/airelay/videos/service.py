"""Creating, reading, listing, deleting video tasks and fetching their videos, for a user.

Creating a task reserves its price (seconds x per-second price) out of the user's balance
in the transaction that writes the task row, then asks the channels serving the model, in
routing order, to create the upstream task: the first that takes it is the task's channel
for good (its polls must go to the same account). A task nobody took is refunded at once.
The creation runs apart from the client's request: a client that hangs up does not leave
a half-created task behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import yarl
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import video_money
from airelay.billing.wallets import InsufficientFunds, Wallets
from airelay.client import Timeouts
from airelay.errors import GatewayError
from airelay.formats.names import Endpoint
from airelay.formats.video import TaskStatus, TaskView, VideoRequest
from airelay.ids import new_id
from airelay.observe.metrics import limit_rejected
from airelay.providers.video_base import HttpRequest
from airelay.providers.video_registry import video_tasks
from airelay.relay.routing import channels_for
from airelay.store import video_tasks as task_store
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot
from airelay.transport.base import Transport, UpstreamResponse
from airelay.transport.choice import Transports
from airelay.videos.upstream import Unreachable, error_message, fetch, key_for, key_hash
from airelay.videos.upstream import open_request as open_upstream

log = logging.getLogger(__name__)
CANCEL_TIMEOUTS = Timeouts(connect=5, read=10, total=10)

#: The statuses worth trying the next channel for; other errors are the client's.
_RETRYABLE = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, slots=True)
class VideoSettings:
    poll_seconds: float = 5.0  # the first poll after creation, and the backoff's base
    lease_seconds: int = 60  # how long a poller owns a task it is polling
    max_wait_seconds: int = 3600  # a task not finished by then is failed and refunded


class VideoService:
    def __init__(
        self,
        engine: AsyncEngine,
        wallets: Wallets,
        transports: Transports,
        settings: VideoSettings,
        *,
        public: Transport,
    ) -> None:
        self.engine = engine
        self.wallets = wallets
        self.transports = transports
        self.settings = settings
        # Videos on another host than their channel's (a CDN) are fetched through this:
        # public addresses only, so an upstream's URL cannot reach inside the network.
        self.public = public

    # -- create ------------------------------------------------------------------------

    async def create(
        self, snapshot: Snapshot, record: KeyRecord, request: VideoRequest, request_id: str
    ) -> dict[str, Any]:
        """Reserve, create upstream, and answer the task row (raises ``GatewayError``)."""
        channels = [
            channel
            for channel in channels_for(snapshot, request.model, Endpoint.VIDEO)
            if video_tasks(channel.type) is not None
        ]
        if not channels:
            raise GatewayError(503, f"No channel serves videos for the model '{request.model}'.")
        price = snapshot.prices.get(request.model)
        if price is None:
            raise GatewayError(
                403,
                f"The model '{request.model}' has no price set; the operator must price it "
                "(0 for free) before it can be called.",
            )
        try:
            unit = video_money.unit_price(price, request.price_key)
        except video_money.NoPrice as exc:
            raise GatewayError(400, str(exc)) from exc
        multiplier = video_money.multiplier_text(snapshot.group_multipliers.get(record.user_group))
        reserved = video_money.cost(request.seconds, unit, multiplier)
        if record.quota is not None:
            async with self.engine.connect() as conn:
                in_tasks = await task_store.open_reserved(conn, record.id)
            spent = await self.wallets.quota_spent(record.id, record.quota_period) + in_tasks
            if spent + reserved > record.quota:
                limit_rejected("key", "quota")
                raise GatewayError(403, "This API key has exhausted its quota.")
        task = asyncio.ensure_future(
            self._create(channels, record, request, request_id, unit, multiplier, reserved)
        )
        # Shielded: a client that leaves does not cancel a creation half done.
        return await asyncio.shield(task)

    async def _create(
        self,
        channels: list[ChannelRecord],
        record: KeyRecord,
        request: VideoRequest,
        request_id: str,
        unit: int,
        multiplier: str | None,
        reserved: int,
    ) -> dict[str, Any]:
        now = int(time.time())
        row: dict[str, Any] = {
            "id": new_id("video"),
            "user_id": record.user_id,
            "token_id": record.id,
            "model": request.model,
            "status": str(TaskStatus.SUBMITTING),
            "progress": 0,
            "seconds": request.seconds,
            "resolution": request.resolution,
            "size": request.size,
            "prompt": request.prompt,
            "unit_price": unit,
            "multiplier": multiplier,
            "reserved": reserved,
            # Held by this creation: the poller refunds it only if the creation never
            # finishes (a crash), after the lease.
            "lease_owner": self.wallets.instance_id,
            "lease_until": now + self.settings.lease_seconds,
            "next_poll_at": now + self.settings.lease_seconds,
            "polls": 0,
            "request_id": request_id,
            "created_at": now,
            "updated_at": now,
        }

        async def write(conn: Any) -> None:
            await task_store.insert(conn, row)

        try:
            await self.wallets.withdraw(record.user_id, reserved, write)
        except InsufficientFunds as exc:
            raise GatewayError(402, "Insufficient balance. Please top up your account.") from exc
        failure = GatewayError(502, "No upstream accepted the video task.")
        # Bounded well inside the lease: a creation still waiting when the lease ends
        # could be refunded by a poller while the upstream takes it.
        wait = max(1.0, self.settings.lease_seconds / 2)
        timeouts = Timeouts(connect=min(10.0, wait), read=wait, total=wait)
        for channel in channels:
            adapter = video_tasks(channel.type)
            assert adapter is not None
            key = channel.next_key()
            upstream_model = channel.upstream_model(request.model)
            try:
                outgoing = adapter.create(channel.base_url, key, upstream_model, request)
                status, body = await fetch(self.transports.for_channel(channel), outgoing, timeouts)
            except Unreachable:
                failure = GatewayError(502, "The upstream could not be reached.")
                continue
            if 200 <= status < 300:
                try:
                    upstream_id = adapter.created(body, request)
                except ValueError as exc:
                    failure = GatewayError(502, f"The upstream answered unexpectedly: {exc}")
                    continue
                async with self.engine.begin() as conn:
                    await task_store.submitted(
                        conn,
                        row["id"],
                        upstream_id=upstream_id,
                        channel_id=channel.id,
                        key_hash=key_hash(key),
                        at=int(time.time()),
                        next_poll_at=int(time.time() + self.settings.poll_seconds),
                    )
                    created = await task_store.get(conn, row["id"])
                assert created is not None
                return created
            message = error_message(body, channel)
            failure = GatewayError(502 if status >= 500 else status, message)
            if status < 500 and status not in _RETRYABLE:
                break
        await video_money.refund(
            self.engine,
            row["id"],
            status=TaskStatus.FAILED,
            error_code="upstream_refused",
            error_message=failure.message[:1000],
        )
        async with self.engine.begin() as conn:
            # The client was told it failed: it never had the task, nor does its list.
            await task_store.mark_deleted(conn, row["id"], int(time.time()))
        raise failure

    # -- read, list, delete --------------------------------------------------------------

    async def owned(self, user_id: str, task_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = await task_store.get_owned(conn, task_id, user_id)
        if row is None:
            raise GatewayError(404, f"No video task with id '{task_id}'.")
        return row

    async def page(
        self, user_id: str, *, limit: int, after: str | None, newest_first: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        async with self.engine.connect() as conn:
            rows = await task_store.list_owned(
                conn, user_id, limit=limit, after=after, newest_first=newest_first
            )
        return rows[:limit], len(rows) > limit

    async def delete(self, snapshot: Snapshot, user_id: str, task_id: str) -> None:
        """Hide the task from its user; one still running is refunded and cancelled
        upstream where the upstream can (best effort: the refund does not wait on it)."""
        row = await self.owned(user_id, task_id)
        cancelled = await video_money.refund(
            self.engine,
            task_id,
            status=TaskStatus.CANCELLED,
            error_code="cancelled",
            error_message="The task was deleted before it finished.",
        )
        async with self.engine.begin() as conn:
            await task_store.mark_deleted(conn, task_id, int(time.time()))
        if cancelled and row["upstream_id"] is not None:
            await self._cancel_upstream(snapshot, row)

    async def _cancel_upstream(self, snapshot: Snapshot, row: dict[str, Any]) -> None:
        channel = next((c for c in snapshot.channels if c.id == row["channel_id"]), None)
        adapter = video_tasks(channel.type) if channel is not None else None
        if channel is None or adapter is None:
            return
        key = key_for(channel, row["key_hash"])
        outgoing = adapter.cancel(channel.base_url, key, row["upstream_id"])
        if outgoing is None:
            return
        try:
            await fetch(self.transports.for_channel(channel), outgoing, CANCEL_TIMEOUTS)
        except Unreachable:
            log.info("cancelling video task %s upstream failed", row["id"])

    async def open_content(self, snapshot: Snapshot, row: dict[str, Any]) -> UpstreamResponse:
        """The finished video's bytes, as the upstream serves them (the caller streams and
        closes the answer)."""
        if row["status"] != TaskStatus.SUCCEEDED:
            raise GatewayError(400, f"The video is not ready: the task is {row['status']}.")
        channel = next((c for c in snapshot.channels if c.id == row["channel_id"]), None)
        adapter = video_tasks(channel.type) if channel is not None else None
        if channel is None or adapter is None:
            raise GatewayError(404, "The channel that made this video is gone.")
        key = key_for(channel, row["key_hash"])
        outgoing = adapter.content(channel.base_url, key, row["upstream_id"])
        transport = self.transports.for_channel(channel)
        if outgoing is None:
            if not row["video_url"]:
                raise GatewayError(404, "The upstream gave no video for this task.")
            outgoing = HttpRequest("GET", row["video_url"], {})
            if not same_origin(outgoing.url, channel.base_url):
                transport = self.public
        try:
            response = await open_upstream(transport, outgoing)
        except Unreachable as exc:
            raise GatewayError(502, "The upstream could not be reached.") from exc
        if response.status != 200:
            response.close()
            raise GatewayError(502, f"The upstream answered {response.status} for the video.")
        return response


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the channel's own host (scheme, host and port)."""
    try:
        one, two = yarl.URL(url), yarl.URL(base_url)
    except ValueError:
        return False
    return (one.scheme, one.host, one.port) == (two.scheme, two.host, two.port)


def view(row: dict[str, Any], content_url: str) -> TaskView:
    """What the client sees of a row: the upstream's video URL when it gave one, else the
    gateway's own download route."""
    status = TaskStatus(row["status"])
    url = row["video_url"] or (content_url if status is TaskStatus.SUCCEEDED else None)
    return TaskView(
        id=row["id"],
        model=row["model"],
        status=status,
        progress=int(row["progress"]),
        created_at=int(row["created_at"]),
        completed_at=row["completed_at"],
        seconds=int(row["seconds"]),
        size=row["size"],
        resolution=row["resolution"],
        prompt=row["prompt"],
        video_url=url,
        error_code=row["error_code"],
        error_message=row["error_message"],
    )
