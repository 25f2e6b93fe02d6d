"""A channel record with egress settings and the transports that route it, for the tests
of transport choice and of a channel's egress (token requests)."""

from __future__ import annotations

from airelay.client import Timeouts
from airelay.store.snapshot import ChannelRecord
from airelay.transport.choice import Transports
from airelay.transport.options import EnvProxies, TlsOptions
from support.records import channel_record

TIMEOUTS = Timeouts(connect=5, read=5, total=10)


def channel(
    base_url: str = "https://api.example.com/v1",
    proxy: str | None = None,
    tls: TlsOptions | None = None,
    kind: str = "openai",
) -> ChannelRecord:
    return channel_record(
        id="ch_" + kind,
        name=kind,
        type=kind,
        base_url=base_url,
        api_keys=("sk-up",),
        proxy=proxy,
        tls=tls,
    )


def transports(env: EnvProxies | None = None) -> Transports:
    return Transports(TIMEOUTS, max_body=1 << 20, max_per_origin=16, env=env)
