"""Run a real gateway on loopback in a background thread, for tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import msgspec
import uvloop
from aiohttp import web

from airelay.bootstrap import ensure_admin_key
from airelay.config import Settings
from airelay.server import start
from airelay.store.migrate import upgrade

ADMIN_KEY = "mgmt-test-root-key"


class Gateway:
    """A gateway process-in-a-thread: ``url`` is its root, ``admin_key`` its mgmt key."""

    def __init__(self, database_url: str, data_dir: Path, **overrides: object) -> None:
        self.settings = msgspec.structs.replace(
            Settings(),
            database_url=database_url,
            data_dir=data_dir,
            admin_key=ADMIN_KEY,
            host="127.0.0.1",
            # Rows sooner than the default's 0.25 s: tests wait for them. Any free port
            # unless the test needs to know it beforehand. Redis's 0.2 s is for a server
            # to itself; a gateway in a test's thread shares its process (and in CI two
            # cores with browsers and other workers), so a turn of its loop can miss that
            # and fail closed where no test meant it to (``test_redis_timeout`` sets it).
            **{
                "config_poll_seconds": 0.5,
                "billing_flush_seconds": 0.05,
                "port": 0,
                "redis_timeout": 2.0,
                **overrides,
            },
        )
        self.admin_key = ADMIN_KEY
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gateway:
        upgrade(self.settings.database_url)
        asyncio.run(ensure_admin_key(self.settings))
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = uvloop.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner, self.port = loop.run_until_complete(start(self.settings))
            except BaseException as exc:  # surfaced to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="gateway", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
