"""The video parts of a gateway process: the service and its background poller."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.wallets import Wallets
from airelay.config import Settings
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


async def open_videos(
    settings: Settings,
    engine: AsyncEngine,
    wallets: Wallets,
    transports: Transports,
    cache: ConfigCache,
) -> tuple[VideoService, VideoPoller]:
    """The service, and its poller started (stop it before the engine is disposed)."""
    chosen = video_settings(settings)
    service = VideoService(engine, wallets, transports, chosen)
    poller = VideoPoller(engine, cache, transports, chosen, owner=wallets.instance_id)
    await poller.start()
    return service, poller
