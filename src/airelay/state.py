"""What one gateway process holds while it serves: settings, database, caches, transports."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.wallets import Wallets
from airelay.client import Pool
from airelay.config import Settings
from airelay.relay.admission import Admission
from airelay.relay.collaborators import Relay
from airelay.security.compaction_seal import Sealer
from airelay.security.crypto import SecretBox
from airelay.store.image_files import ImageFiles
from airelay.store.response_writer import ResponseWriter
from airelay.store.snapshot import ConfigCache
from airelay.transport.choice import Transports
from airelay.videos.service import VideoService


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    cache: ConfigCache
    http: aiohttp.ClientSession  # Stripe's calls
    upstream: Transports  # the relay's (and channel tests') calls to upstreams, per channel
    wallets: Wallets
    # For fetching images by URL: public addresses only (see relay.images).
    images: Pool
    # Relay calls in flight, and the cap above which they are refused (503).
    admission: Admission
    # The relay pipeline's collaborators (the parts of the above it uses).
    relay: Relay
    # Stored Responses API answers: written in batches off the request's path, read back
    # at once (pending ones included).
    responses: ResponseWriter
    # Seals what the gateway hands clients to bring back (compaction summaries).
    sealer: Sealer
    # Video generation tasks (created here, polled by ``videos.poller``).
    videos: VideoService
    # Images kept for URL answers (a local directory or a bucket), served by the gateway.
    image_files: ImageFiles
    # Set once shutdown begins: GET /ready answers 503 from then on.
    draining: bool = False


STATE = web.AppKey("airelay_state", AppState)
REQUEST_ID = web.RequestKey("airelay_request_id", str)
# The status line a streamed response sent, once it is out: what a request the client left
# midway is logged under (``surfaces.endpoint``).
SENT_STATUS = web.RequestKey("airelay_sent_status", int)
