"""The Redis client of a process whose instances share state (``AIRELAY_REDIS_URL``).

One client per process, built here so that every user of Redis gets the same rules: short
timeouts and no retries. Redis is a helper on the hot path, never a place to wait: a caller
that cannot reach it in ``TIMEOUT_SECONDS`` goes on with what it has in-process.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

#: Longest wait for a connection or an answer: a loopback GET takes ~0.15 ms.
TIMEOUT_SECONDS = 0.2

#: What a failed Redis command raises: the client's errors, a socket's, a timeout.
FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


def connect(url: str) -> Redis:
    """A client for ``url`` (``redis://``, ``rediss://`` or ``unix://``); it connects on
    first use, so a Redis that is down does not stop start-up."""
    return Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )
