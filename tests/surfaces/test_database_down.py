"""The database goes away under a running gateway: every route that needs it answers 503 with
``Retry-After`` in the caller's error shape (no 500, no traceback per request), calls that an
instance's existing hold covers keep working, and the gateway recovers by itself.

PostgreSQL is reached through a TCP proxy the test cuts; SQLite's file is moved away and the
engine's idle connections are closed, so that every new connection fails to open it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from sqlalchemy.engine import make_url
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.tcp_cut import TcpCut

from airelay.state import STATE

MESSAGES = [{"role": "user", "content": "hi"}]


class Outage:
    """Cut and mend the database link of ``gateway``."""

    def __init__(self, gateway: Gateway, cut: Callable[[], None], mend: Callable[[], None]):
        self.gateway = gateway
        self._cut = cut
        self._mend = mend

    @contextmanager
    def down(self) -> Iterator[None]:
        self._cut()
        try:
            yield
        finally:
            self._mend()


def _dispose_idle_connections(gateway: Gateway) -> None:
    """Close the pool's idle connections, in the gateway's own loop."""
    loop = gateway._loop
    assert loop is not None and gateway._runner is not None
    engine = gateway._runner.app[STATE].engine
    asyncio.run_coroutine_threadsafe(engine.dispose(close=True), loop).result(10)


@pytest.fixture(scope="module")
def outage(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    data_dir = tmp_path_factory.mktemp("down-data")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        folder = Path(url.database).parent
        moved = folder.with_name(folder.name + "-away")
        with Gateway(database_url, data_dir) as gateway:

            def cut() -> None:
                folder.rename(moved)
                _dispose_idle_connections(gateway)

            def mend() -> None:
                moved.rename(folder)

            yield Outage(gateway, cut, mend)
        return
    with TcpCut(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        with Gateway(proxied.render_as_string(hide_password=False), data_dir) as gateway:
            yield Outage(gateway, proxy.cut, proxy.mend)


@pytest.fixture(scope="module")
def outage_admin(outage: Outage) -> Iterator[Admin]:
    client = Admin(outage.gateway.url, outage.gateway.admin_key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def model(outage_admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("down")
    outage_admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name]
    )
    return name


def _key(admin: Admin) -> str:
    return str(admin.create_token(admin.create_user(balance=10)["id"])["key"])


def _chat(url: str, key: str, model: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": MESSAGES, "max_tokens": 5},
        timeout=30,
    )


def _unavailable(response: httpx.Response, shape: str) -> None:
    """503, ``Retry-After``, an ``x-request-id`` and the body in the caller's error shape."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert int(response.headers["retry-after"]) > 0
    assert response.headers.get("x-request-id")
    body = response.json()
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["message"], body
    elif shape == "gemini":
        assert body["error"]["code"] == 503 and body["error"]["message"], body
    else:
        assert set(body) == {"error"} and body["error"]["message"], body
        assert body["error"]["code"] == 503, body


def _no_request_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """No log record of a request's failure carries a traceback (background billing and
    configuration loops report their own retries)."""
    for record in caplog.records:
        if record.name.startswith(("airelay.surfaces", "aiohttp")):
            assert record.exc_info is None, record.getMessage()


def test_database_down_answers_503_in_the_callers_shape(
    outage: Outage, outage_admin: Admin, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = _key(outage_admin)  # no call yet: this instance holds nothing for its user
    base = outage.gateway.url
    admin_headers = {"Authorization": f"Bearer {outage.gateway.admin_key}"}
    user_headers = {"Authorization": f"Bearer {key}"}
    time.sleep(0.1)
    with outage.down():
        calls: list[tuple[str, Callable[[], httpx.Response]]] = [
            ("openai", lambda: httpx.get(base + "/v1/admin/users", headers=admin_headers)),
            (
                "openai",
                lambda: httpx.post(base + "/v1/admin/users", headers=admin_headers, json={}),
            ),
            ("openai", lambda: httpx.get(base + "/v1/admin/usage", headers=admin_headers)),
            ("openai", lambda: httpx.get(base + "/v1/balance", headers=user_headers)),
            ("openai", lambda: httpx.get(base + "/v1/usage", headers=user_headers)),
            (
                "openai",
                lambda: httpx.get(base + "/dashboard/billing/usage", headers=user_headers),
            ),
            ("openai", lambda: _chat(base, key, model)),
            (
                "anthropic",
                lambda: httpx.post(
                    base + "/v1/messages",
                    headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                    json={"model": model, "messages": MESSAGES, "max_tokens": 5},
                    timeout=30,
                ),
            ),
            (
                "gemini",
                lambda: httpx.post(
                    f"{base}/v1beta/models/{model}:generateContent",
                    headers={"x-goog-api-key": key},
                    json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                    timeout=30,
                ),
            ),
        ]
        for shape, call in calls:
            _unavailable(call(), shape)
    _no_request_traceback(caplog)
    lines = [r for r in caplog.records if r.name == "airelay.surfaces.endpoint"]
    assert len(lines) <= len(calls), [r.getMessage() for r in lines]


def test_calls_covered_by_a_hold_keep_working(
    outage: Outage, outage_admin: Admin, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = _key(outage_admin)
    base = outage.gateway.url
    assert _chat(base, key, model).status_code == 200  # takes a hold for the user
    with outage.down():
        for _ in range(3):
            response = _chat(base, key, model)
            assert response.status_code == 200, response.text
    _no_request_traceback(caplog)


def _until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_gateway_recovers_without_restart(outage: Outage, outage_admin: Admin, model: str) -> None:
    key = _key(outage_admin)
    base = outage.gateway.url
    headers = {"Authorization": f"Bearer {outage.gateway.admin_key}"}
    with outage.down():
        _unavailable(httpx.get(base + "/v1/admin/users", headers=headers), "openai")
        _unavailable(_chat(base, key, model), "openai")
    assert _until(lambda: httpx.get(base + "/v1/admin/users", headers=headers).status_code == 200)
    assert _until(lambda: _chat(base, key, model).status_code == 200)
    assert httpx.get(base + "/v1/balance", headers={"Authorization": f"Bearer {key}"}).is_success


def test_one_log_line_per_failed_request(outage: Outage, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Authorization": f"Bearer {outage.gateway.admin_key}"}
    caplog.set_level(logging.INFO)
    with outage.down():
        for _ in range(5):
            _unavailable(
                httpx.get(outage.gateway.url + "/v1/admin/channels", headers=headers), "openai"
            )
        time.sleep(4 * outage.gateway.settings.config_poll_seconds)  # a few polls fail
    lines = [r for r in caplog.records if r.name.startswith("airelay.surfaces")]
    assert 1 <= len(lines) <= 5, [r.getMessage() for r in lines]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    # The configuration poll reports the outage once, without a traceback.
    polls = [r for r in caplog.records if r.name == "airelay.store.snapshot"]
    assert all(r.exc_info is None for r in polls), [r.getMessage() for r in polls]
    assert len([r for r in polls if r.levelno >= logging.WARNING]) <= 1


def test_billing_flush_reports_an_outage_once_and_bills_after_it(
    outage: Outage, outage_admin: Admin, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls served from a hold during the outage queue their usage; the flush fails on every
    retry, says so in one line (no traceback per retry), and writes the rows once the
    database is back."""
    key = _key(outage_admin)
    base = outage.gateway.url
    headers = {"Authorization": f"Bearer {key}"}

    def billed(ids: list[str]) -> bool:
        response = httpx.get(base + "/v1/usage", headers=headers, params={"limit": "200"})
        rows = response.json()["usage"] if response.is_success else []
        return set(ids) <= {row["request_id"] for row in rows}

    caplog.set_level(logging.INFO)
    # A first call, billed: a flush has succeeded since any earlier test's outage. A retry
    # that an earlier outage failed may still report it here, so only what is logged from
    # the cut on is counted.
    first = _chat(base, key, model).headers["x-request-id"]
    assert _until(lambda: billed([first]))
    start = len(caplog.records)
    with outage.down():
        ids = [_chat(base, key, model).headers["x-request-id"] for _ in range(3)]
        time.sleep(2.0)  # several flush retries fail meanwhile
    assert _until(lambda: billed(ids))
    flushes = [r for r in caplog.records[start:] if r.name == "airelay.billing.wallets"]
    messages = [r.getMessage() for r in flushes]
    assert all(r.exc_info is None for r in flushes), messages
    assert len([r for r in flushes if r.levelno >= logging.WARNING]) == 1, messages

    def back() -> bool:
        after = [r for r in caplog.records[start:] if r.name == "airelay.billing.wallets"]
        return any(r.levelno == logging.INFO and "reachable again" in r.getMessage() for r in after)

    assert _until(back)
