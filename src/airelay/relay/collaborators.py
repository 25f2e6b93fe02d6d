"""What the relay pipeline works with, built once per process and passed explicitly: the
pipeline never sees the whole application state (the database engine, the management
side's HTTP session, the config cache...)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from airelay.billing.wallets import Wallets
from airelay.client import Pool
from airelay.config import Settings
from airelay.relay.admission import Admission
from airelay.relay.limits import NO_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class Relay:
    settings: Settings
    wallets: Wallets  # price and reserve, settle
    upstream: Pool  # the calls to upstreams
    images: aiohttp.ClientSession  # image URLs fetched for formats that take them inline
    admission: Admission  # relay calls in flight, and their cap
    limits: Limits = NO_LIMITS
