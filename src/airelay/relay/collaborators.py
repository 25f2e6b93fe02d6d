"""What the relay pipeline works with, built once per process and passed explicitly: the
pipeline never sees the whole application state (the database engine, the management
side's HTTP session, the config cache...)."""

from __future__ import annotations

from dataclasses import dataclass

from airelay.billing.wallets import Wallets
from airelay.config import Settings
from airelay.formats.thinking import Sealer
from airelay.relay.admission import Admission
from airelay.relay.affinity import Affinity
from airelay.relay.health import Health
from airelay.relay.limits import NO_LIMITS, Limits
from airelay.transport.base import Transport
from airelay.transport.choice import Transports


@dataclass(frozen=True, slots=True)
class Relay:
    settings: Settings
    wallets: Wallets  # price and reserve, settle
    upstream: Transports  # the calls to upstreams, each channel's transport
    images: Transport  # image URLs fetched (public addresses only) for inline-only formats
    admission: Admission  # relay calls in flight, and their cap
    limits: Limits = NO_LIMITS
    affinity: Affinity | None = None  # session affinity; None when it is off
    sealer: Sealer | None = None  # thinking signatures toward other formats (None: as they are)
    health: Health | None = None  # circuit breakers per channel and key; None when off
