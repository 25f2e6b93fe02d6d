"""The process-wide aiohttp client for Stripe's calls; upstream calls (relayed, channel
tests, image fetches) go through ``airelay.transport``."""

from __future__ import annotations

import aiohttp


def create_session(connect_timeout: float, read_timeout: float) -> aiohttp.ClientSession:
    """One pool per process: keep-alive connections, no per-host cap below the global one.

    The default timeouts live on the session, so that a call to a channel without its own
    timeout passes none (a per-call timeout costs the client extra work on every call).
    """
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60
    )
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=connect_timeout, sock_read=read_timeout
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)
