"""``AIRELAY_REDIS_TIMEOUT``: how long an instance waits for a Redis that took the
connection but does not answer before it counts Redis out of reach (limits fail closed)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from relay.test_limits_redis import chat, serve
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway
from test_channels_import import lines, run_import, unique, write_json


class SilentRedis:
    """Takes connections and reads what comes, never answering: a Redis that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._open.append(conn)
            threading.Thread(target=_drain, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        for conn in self._open:
            conn.close()


def _drain(conn: socket.socket) -> None:
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentRedis]:
    server = SilentRedis()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _refused_after(
    timeout: float, silent: SilentRedis, upstream: FakeOpenAI, tmp_path: Path
) -> float:
    """Seconds a limited call takes to be refused by a gateway whose Redis hangs."""
    data = tmp_path / f"data-{timeout}"
    data.mkdir()
    with Gateway(sqlite_url(data), data, redis_url=silent.url, redis_timeout=timeout) as gw:
        admin = Admin(gw.url, gw.admin_key)
        model = unique_model("silent")
        serve(admin, upstream, model)
        key = admin.create_token(rpm=10)["key"]  # a small limit: counted in Redis per call
        started = time.monotonic()
        answer = chat(gw.url, key, model)
        took = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    return took


def test_a_hung_redis_is_waited_for_as_long_as_the_setting_says(
    silent: SilentRedis, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    short = _refused_after(0.3, silent, upstream, tmp_path)
    long = _refused_after(1.5, silent, upstream, tmp_path)
    assert short >= 0.3
    assert long >= 1.5
    assert long > short


def test_ready_waits_for_a_hung_redis_as_long_as_the_instance_does(
    silent: SilentRedis, tmp_path: Path
) -> None:
    with Gateway(sqlite_url(tmp_path), tmp_path, redis_url=silent.url, redis_timeout=1.5) as gw:
        started = time.monotonic()
        answer = httpx.get(gw.url + "/ready", timeout=20)
        took = time.monotonic() - started
    assert answer.status_code == 503
    body = answer.json()
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}
    assert body["problems"]["redis"] == "no answer in 1.5 s"
    assert took >= 1.5


def test_a_new_session_waits_for_a_hung_redis_as_long_as_the_setting_says(
    silent: SilentRedis, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    """Session affinity reads Redis for a session it has not seen (two channels: a binding
    can choose): the call waits that long for it, then goes on without."""
    with Gateway(sqlite_url(tmp_path), tmp_path, redis_url=silent.url, redis_timeout=1.5) as gw:
        admin = Admin(gw.url, gw.admin_key)
        model = unique_model("session")
        serve(admin, upstream, model)
        serve(admin, upstream, model)
        # An admin write announces the change on the bus: it waits as long for Redis.
        written = time.monotonic()
        key = admin.create_token()["key"]  # no limits: the call's only Redis read is affinity
        assert time.monotonic() - written >= 1.5
        started = time.monotonic()
        answer = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}", "session_id": "conversation-1"},
            timeout=20,
        )
        took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert took >= 1.5


def test_an_import_waits_for_a_hung_redis_as_long_as_the_setting_says(
    silent: SilentRedis, tmp_path: Path
) -> None:
    """``airelay channels import`` announces its change on the bus: it waits that long for
    Redis, then ends as it would without it (4 s: well beyond the command's own time)."""
    name = unique("announced")
    path = write_json(
        tmp_path,
        {
            "channels": [
                {
                    "name": name,
                    "type": "openai",
                    "base_url": "https://api.example.com/v1",
                    "api_keys": ["sk-announced"],
                    "models": ["gpt-x"],
                }
            ]
        },
    )
    with Gateway(sqlite_url(tmp_path), tmp_path) as gw:
        started = time.monotonic()
        result = run_import(gw, path, AIRELAY_REDIS_URL=silent.url, AIRELAY_REDIS_TIMEOUT="4")
        took = time.monotonic() - started
    assert lines(result)[0] == f"created channel {name}"
    assert took >= 4
