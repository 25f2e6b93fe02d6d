"""The test Redis: a real server, mandatory when CI=true; elsewhere its tests are skipped,
with the reason shown, when none answers (as for PostgreSQL, see ``databases``)."""

from __future__ import annotations

import os

import pytest
import redis

from support.databases import in_ci

REDIS_URL = os.environ.get("AIRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The test Redis's URL once it answers a PING (skip, or fail in CI, if it does not)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        if in_ci():
            pytest.fail(f"Redis is required in CI but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL
