"""The gateway under test: a fresh database, ``airelay serve`` as a subprocess, and the
management-API calls that give it a channel to the fake upstream, priced models, a user with
a balance and an API key."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import procs
from upstream import SLOW_MODEL
from wrk import TRANSLATED_MODEL

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
MODELS = ("gpt-4o-mini", SLOW_MODEL)


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    admin_key: str
    api_key: str = ""

    def pids(self) -> list[int]:
        return procs.tree(self.proc.pid)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _call(self.port, method, path, self.admin_key, body)


def _call(port: int, method: str, path: str, key: str, body: dict[str, Any] | None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=orjson.dumps(body) if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def postgres_available() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty database for one run; dropped afterwards."""
    name = f"airelay_bench_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class Limits:
    """``--limits``: the gateway runs with its rate-limit counters in Redis and limits in
    every scope, set far above the load so that none trips, and ``/metrics`` is scraped
    while it is measured: the cost of limits and metrics, not of refusals."""

    redis_url: str
    scrape_seconds: float = 1.0
    leases: bool = True  # AIRELAY_LIMITS_LEASES (``bench/limits.py`` compares both)


def start(
    airelay: Path,
    database_url: str,
    data_dir: Path,
    workers: int,
    cpus: str,
    log: Path,
    limits: Limits | None = None,
    *,
    front: bool = True,
) -> Gateway:
    """``airelay serve`` on a free port with only the benchmark's settings (and Redis for
    the rate-limit counters with ``limits``; aiohttp serving every route without ``front``,
    ``AIRELAY_HTTP_FRONT``); returns once the management API answers."""
    port = procs.free_port()
    admin_key = f"mgmt-bench-{secrets.token_hex(16)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRELAY_", "STRIPE_"))}
    env.update(
        AIRELAY_DATABASE_URL=database_url,
        AIRELAY_DATA_DIR=str(data_dir),
        AIRELAY_ADMIN_KEY=admin_key,
        AIRELAY_HOST="127.0.0.1",
        AIRELAY_PORT=str(port),
        AIRELAY_WORKERS=str(workers),
        AIRELAY_HTTP_FRONT="true" if front else "false",
    )
    if limits is not None:
        env.update(AIRELAY_REDIS_URL=limits.redis_url)
        env.update(AIRELAY_LIMITS_LEASES="true" if limits.leases else "false")
    out = log.open("ab")
    try:
        proc = subprocess.Popen(
            ["taskset", "-c", cpus, str(airelay), "serve"],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()
    gateway = Gateway(proc, port, admin_key)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}; see {log}")
        try:
            gateway.admin("GET", "/v1/admin/settings")
            return gateway
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                procs.stop(proc)
                raise RuntimeError(f"gateway never answered; see {log}") from None
            time.sleep(0.1)


NEVER = 2_000_000_000  # a limit no benchmark load reaches (the API's largest is 2^31 - 1)
# Limits in every scope, each far above the load: every call is counted against all of
# them (the default, the key's group and model) and none is refused.
RATE_LIMITS = {
    "requests_per_minute": NEVER,
    "tokens_per_minute": NEVER,
    "requests_per_day": NEVER,
    "max_concurrency": 1_000_000,
    "groups": {"default": {"requests_per_minute": NEVER, "max_concurrency": 1_000_000}},
    "models": {
        model: {"tokens_per_minute": NEVER, "max_concurrency": 1_000_000}
        for model in (*MODELS, TRANSLATED_MODEL)
    },
}
CHANNEL_LIMITS = {"rpm": NEVER, "tpm": NEVER, "max_concurrency": 1_000_000}
KEY_BUDGET = {"quota": 900_000, "quota_period": "monthly", "max_concurrency": 1_000_000}


def configure(gateway: Gateway, upstream_port: int, limits: bool = False) -> None:
    """A channel to the fake upstream, priced models, a user with balance, and a key (with
    limits far above what the benchmark sends, so no call is refused). With ``limits``,
    limits in every scope and a monthly budget on the key, none of which trips."""
    channel_limits = CHANNEL_LIMITS if limits else {}
    gateway.admin(
        "POST",
        "/v1/admin/channels",
        {
            "name": "bench upstream",
            "type": "openai",
            "base_url": f"http://127.0.0.1:{upstream_port}/v1",
            "api_keys": ["sk-upstream-bench"],
            "models": list(MODELS),
            **channel_limits,
        },
    )
    gateway.admin(
        "POST",
        "/v1/admin/channels",
        {
            "name": "bench upstream, Anthropic format",
            "type": "anthropic",
            "base_url": f"http://127.0.0.1:{upstream_port}",
            "api_keys": ["sk-ant-upstream-bench"],
            "models": [TRANSLATED_MODEL],
            **channel_limits,
        },
    )
    if limits:
        gateway.admin("PATCH", "/v1/admin/settings", {"rate_limits": RATE_LIMITS})
    for model in (*MODELS, TRANSLATED_MODEL):
        pricing = {"input": 1, "output": 2}
        gateway.admin("POST", "/v1/admin/models", {"id": model, "pricing": pricing})
    user = gateway.admin(
        "POST", "/v1/admin/users", {"email": "bench@example.com", "balance": 1_000_000}
    )
    token = gateway.admin(
        "POST",
        "/v1/admin/tokens",
        {
            "user_id": user["id"],
            "name": "bench",
            "rpm": NEVER,
            "tpm": NEVER,
            **(KEY_BUDGET if limits else {}),
        },
    )
    gateway.api_key = token["key"]


class Scraper:
    """``GET /metrics`` every ``seconds`` in a thread, as a Prometheus server would, while a
    configuration is measured; keeps the last exposition."""

    def __init__(self, gateway: Gateway, seconds: float) -> None:
        self._url = f"http://127.0.0.1:{gateway.port}/metrics"
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.scrapes = 0
        self.failures = 0
        self.last = ""

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._scrape()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._scrape()

    def _scrape(self) -> None:
        try:
            with urllib.request.urlopen(self._url, timeout=10) as response:
                self.last = response.read().decode()
            self.scrapes += 1
        except (OSError, urllib.error.URLError):
            self.failures += 1

    def rejections(self) -> float:
        """Calls refused at a limit, all scopes and kinds (none, when limits never trip)."""
        total = 0.0
        for line in self.last.splitlines():
            if line.startswith("airelay_limit_rejections_total"):
                total += float(line.rpartition(" ")[2])
        return total


def usage_rows(gateway: Gateway) -> int:
    total: int = gateway.admin("GET", "/v1/admin/usage?limit=1")["total"]
    return total
