"""The rules every user of Redis (``AIRELAY_REDIS_URL``) follows, and redis-py's client.

Short timeouts and no retries: Redis is a helper on the hot path, never a place to wait; a
caller that cannot reach it in ``AIRELAY_REDIS_TIMEOUT`` (``TIMEOUT_SECONDS`` by default)
goes on with what it has in-process.

The gateway's own RESP client (``resp``, through ``redis_scripts.open_scripts`` and
``redis_subscriber``) speaks ``redis://`` and ``unix://``. redis-py, made here, is the
fallback for other URLs (``rediss://``), and for the rate-limit counters when
``AIRELAY_REDIS_CLIENT`` asks for it: the ``redis`` package (~6 MB once imported) is
imported only then.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Longest wait for a connection or an answer by default (``AIRELAY_REDIS_TIMEOUT`` sets it):
#: a loopback GET takes ~0.15 ms.
TIMEOUT_SECONDS = 0.2


@functools.cache
def failures() -> tuple[type[BaseException], ...]:
    """What a failed Redis command raises: the client's errors, a socket's, a timeout. (An
    ``except failures():`` clause evaluates this only when something was raised.)"""
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


def connect(url: str, timeout: float = TIMEOUT_SECONDS) -> Redis:
    """A client for ``url`` (``redis://``, ``rediss://`` or ``unix://``); it connects on
    first use, so a Redis that is down does not stop start-up. ``timeout``: longer only
    off the hot path (a console sign-in, which spends longer on its password hash)."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )
