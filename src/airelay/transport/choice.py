"""Which transport carries a channel's calls, picked once per channel and snapshot.

- no proxy, no TLS options: the shared direct pool (the own client);
- TLS options only: an own-client pool with the channel's SSL context (the options need no
  other client, so the fast path stays fast), one per distinct options;
- a proxy (the channel's, or the environment's when the operator opted in and NO_PROXY
  does not name the host): a ``ProxiedTransport``, one per distinct proxy and options.

A channel's token requests take the same transports (``egress``), the environment's proxy
chosen for the token endpoint's host.

The choice is cached on the ``ChannelRecord`` (``channel.cached``): a call pays a dict
lookup. Transports are shared by every channel with the same setup, across snapshots, and
closed with the process; a setup no channel uses any more keeps its (idle, expiring)
connections only until they time out.
"""

from __future__ import annotations

from airelay.client import Pool, Resolver, Timeouts
from airelay.store.snapshot import ChannelRecord
from airelay.transport.base import Transport
from airelay.transport.egress import ChannelEgress
from airelay.transport.options import EnvProxies, TlsOptions, ssl_context
from airelay.transport.proxied import ProxiedTransport

_CACHE_KEY = "transport"
_EGRESS_KEY = "egress"


class Transports:
    def __init__(
        self,
        timeouts: Timeouts,
        *,
        max_body: int,
        max_per_origin: int,
        env: EnvProxies | None = None,
    ) -> None:
        self.timeouts = timeouts
        self._max_body = max_body
        self._max_per_origin = max_per_origin
        self._env = env
        self._resolver = Resolver()  # one DNS cache for every own-client pool
        self.direct = Pool(
            timeouts, max_body=max_body, max_per_origin=max_per_origin, resolver=self._resolver
        )
        self._custom: dict[tuple[str | None, TlsOptions | None], Transport] = {}

    def for_channel(self, channel: ChannelRecord) -> Transport:
        """The transport for ``channel``'s calls; ``ValueError`` if its options cannot be
        used (they were checked when written: only a damaged row gets here)."""
        return channel.cached(_CACHE_KEY, lambda: self._choose(channel))

    async def close(self) -> None:
        await self.direct.close()
        for transport in self._custom.values():
            await transport.close()
        self._custom.clear()

    def egress(self, channel: ChannelRecord) -> ChannelEgress:
        """How the requests made on ``channel``'s behalf (its access tokens) leave: its
        proxy and TLS options, as its calls (``transport.egress``). Cached on the channel."""
        return channel.cached(_EGRESS_KEY, lambda: ChannelEgress(self, channel.proxy, channel.tls))

    def route(self, proxy: str | None, tls: TlsOptions | None, url: str) -> Transport:
        """The transport of a request to ``url`` with a channel's ``proxy`` and ``tls``:
        without a proxy of the channel's own, the environment's for ``url`` (when the
        operator opted in); ``ValueError`` for options that cannot be used."""
        if proxy is None and self._env is not None:
            proxy = self._env.proxy_for(url)
        if proxy is None and (tls is None or tls == TlsOptions()):
            return self.direct
        key = (proxy, tls)
        transport = self._custom.get(key)
        if transport is None:
            context = None if tls is None else ssl_context(tls)
            transport = self._custom[key] = (
                Pool(
                    self.timeouts,
                    ssl_context=context,
                    max_body=self._max_body,
                    max_per_origin=self._max_per_origin,
                    resolver=self._resolver,
                )
                if proxy is None
                else ProxiedTransport(
                    proxy,
                    context,
                    self.timeouts,
                    max_body=self._max_body,
                    max_per_origin=self._max_per_origin,
                )
            )
        return transport

    def _choose(self, channel: ChannelRecord) -> Transport:
        return self.route(channel.proxy, channel.tls, channel.base_url)
