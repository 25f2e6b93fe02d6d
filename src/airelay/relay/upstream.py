"""The process-wide pooled HTTP client for upstream calls."""

from __future__ import annotations

import aiohttp


def create_session() -> aiohttp.ClientSession:
    """One pool per process: keep-alive connections, no per-host cap below the global one."""
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=0,
        ttl_dns_cache=300,
        keepalive_timeout=60,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        trust_env=False,
    )
