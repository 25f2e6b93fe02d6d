"""The test Redis: a real server, mandatory when CI=true; elsewhere its tests are skipped,
with the reason shown, when none answers (as for PostgreSQL, see ``databases``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

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


class RedisProcess:
    """A ``redis-server`` of the test's own on a free loopback port, without persistence:
    a test can kill it and start it again on the same port (``stop``, ``start``)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if in_ci():
                pytest.fail("redis-server is required in CI but not installed")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--protected-mode", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_timeout=0.5) as client:
                    client.ping()
                return self
            except (redis.RedisError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """Killed at once (SIGKILL): connections drop as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
