"""Money across instances: two gateways on one database keep exact books, and the holds of
an instance that crashed go back to their users when the next one starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import ADMIN_KEY, Gateway
from support.ledger import books, wait_for_rows

from airelay.money import usd_to_units

MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def twin(gateway: Gateway) -> Iterator[Gateway]:
    """A second instance on the same database and secret."""
    with Gateway(gateway.settings.database_url, gateway.settings.data_dir) as other:
        yield other


@pytest.fixture
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("inst")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[name],
        price={"input": 1, "output": 2, "per_request": 0.0002},
    )
    return name


def test_two_instances_never_overdraw_and_books_balance(
    gateway: Gateway, twin: Gateway, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=0.01)
    key = admin.create_token(user["id"])["key"]
    time.sleep(1.2)  # the twin picks the new key and model up from the database
    clients = [
        openai.OpenAI(base_url=g.url + "/v1", api_key=key, max_retries=0, timeout=30)
        for g in (gateway, twin)
    ]

    def call(i: int) -> int:
        try:
            clients[i % 2].chat.completions.create(model=model, messages=MESSAGES, max_tokens=20)  # type: ignore[arg-type]
            return 200
        except openai.APIStatusError as exc:
            return exc.status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(call, range(160)))
    ok = statuses.count(200)
    assert set(statuses) <= {200, 402} and ok > 0
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    assert state.usage_rows == ok
    assert state.balance >= 0 and state.held >= 0
    assert (
        state.credits - state.usage_cost == state.spendable == usd_to_units(0.01) - state.usage_cost
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(gateway: Gateway, **env_extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """``airelay serve`` in a process of its own, on the shared database and secret."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRELAY_")}
    env.update(
        AIRELAY_DATABASE_URL=gateway.settings.database_url,
        AIRELAY_DATA_DIR=str(gateway.settings.data_dir),
        AIRELAY_ADMIN_KEY=ADMIN_KEY,
        AIRELAY_PORT=str(port),
        **env_extra,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "airelay", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v1/models", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


def test_crashed_instance_holds_return_at_start_up(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=2)
    key = admin.create_token(user["id"])["key"]
    process, url = _serve(gateway, AIRELAY_HOLD_STALE_SECONDS="2")
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
        wait_for_rows(gateway.settings.database_url, user["id"], 1)
        before = books(gateway.settings.database_url, user["id"])
        assert before.held > 0  # the crashed instance still holds money of the user
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    time.sleep(3.5)  # heartbeats are whole seconds: stale after 2 to 3 seconds
    with Gateway(gateway.settings.database_url, gateway.settings.data_dir, hold_stale_seconds=2):
        after = books(gateway.settings.database_url, user["id"])
    assert after.held == 0
    assert after.balance == usd_to_units(2) - after.usage_cost
    assert after.credits - after.usage_cost == after.spendable


def test_sigterm_loses_nothing(gateway: Gateway, admin: Admin, model: str) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    process, url = _serve(gateway, AIRELAY_BILLING_FLUSH_SECONDS="60")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert books(gateway.settings.database_url, user["id"]).usage_rows == 0  # still batched
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    state = books(gateway.settings.database_url, user["id"])
    assert state.usage_rows == 3 and state.held == 0
    assert state.balance == usd_to_units(1) - state.usage_cost


def test_graceful_stop_writes_everything_and_returns_holds(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    with Gateway(
        gateway.settings.database_url, gateway.settings.data_dir, billing_flush_seconds=30
    ) as third:
        time.sleep(1.2)
        openai.OpenAI(
            base_url=third.url + "/v1", api_key=key, max_retries=0
        ).chat.completions.create(
            model=model,
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    state = books(gateway.settings.database_url, user["id"])
    assert state.usage_rows == 1 and state.held == 0
    assert state.balance == usd_to_units(1) - state.usage_cost
