"""The video parts of a gateway process: the service and its background poller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.wallets import Wallets
from airelay.client import Pool, Timeouts
from airelay.config import Settings
from airelay.relay.images import public_address
from airelay.store.snapshot import ConfigCache
from airelay.transport.choice import Transports
from airelay.videos.poller import VideoPoller
from airelay.videos.service import VideoService, VideoSettings


def video_settings(settings: Settings) -> VideoSettings:
    return VideoSettings(
        poll_seconds=settings.video_poll_seconds,
        lease_seconds=settings.video_lease_seconds,
        max_wait_seconds=settings.video_max_wait_seconds,
    )


# Fetching a finished video from a host other than its channel's: public addresses only.
VIDEO_FETCH_TIMEOUTS = Timeouts(connect=10, read=60, total=1800)


async def open_videos(
    settings: Settings,
    engine: AsyncEngine,
    wallets: Wallets,
    transports: Transports,
    cache: ConfigCache,
) -> tuple[VideoService, Callable[[], Awaitable[None]]]:
    """The service with its poller started, and what stops both (before the engine is
    disposed)."""
    chosen = video_settings(settings)
    public = Pool(VIDEO_FETCH_TIMEOUTS, max_per_origin=32, allowed=public_address)
    service = VideoService(engine, wallets, transports, chosen, public=public)
    poller = VideoPoller(engine, cache, transports, chosen, owner=wallets.instance_id)
    await poller.start()

    async def stop() -> None:
        await poller.stop()
        await public.close()

    return service, stop
