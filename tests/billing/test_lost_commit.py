"""A usage flush whose COMMIT went through but whose reply was lost: the gateway must not
write the batch twice, nor stop billing. On PostgreSQL the fault is real (a TCP proxy cuts
the connection after forwarding the COMMIT); on SQLite it is injected after the commit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.db_proxy import DatabaseProxy, LoseCommitReply
from support.gateway import Gateway
from support.ledger import Books, books, wait_for_rows

from airelay.money import usd_to_units
from airelay.state import STATE

MESSAGES = [{"role": "user", "content": "hello there"}]


@dataclass
class Faulty:
    gateway: Gateway
    database_url: str  # direct, not through the proxy
    lose_next_flush_reply: Callable[[], None]
    replies_lost: Callable[[], int]


@contextmanager
def faulty(database_url: str, data_dir: Path) -> Iterator[Faulty]:
    """A gateway whose next usage flush commits but never hears so."""
    if database_url.startswith("postgresql"):
        with DatabaseProxy(database_url) as proxy, Gateway(proxy.url, data_dir) as gateway:
            yield Faulty(
                gateway,
                database_url,
                lambda: proxy.cut_after_commit(b"INSERT INTO usage_logs"),
                lambda: proxy.cuts,
            )
        return
    with Gateway(database_url, data_dir) as gateway:
        assert gateway._runner is not None
        wallets = gateway._runner.app[STATE].wallets
        engine = LoseCommitReply(wallets._engine)
        wallets._engine = engine  # type: ignore[assignment]

        def lose() -> None:
            engine.armed = 1

        yield Faulty(gateway, database_url, lose, lambda: engine.lost)


def _calls(url: str, key: str, model: str, count: int) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)
    for _ in range(count):
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=20)  # type: ignore[arg-type]


def _exact(state: Books, credited: int) -> None:
    assert state.credits == credited
    assert state.total_usage == state.usage_cost
    assert state.spendable == credited - state.usage_cost
    assert state.balance >= 0 and state.held >= 0


def test_a_lost_commit_reply_neither_stops_billing_nor_charges_twice(
    database_url: str, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    credited = usd_to_units(1)
    with faulty(database_url, tmp_path) as fault:
        gateway = fault.gateway
        admin = Admin(gateway.url, gateway.admin_key)
        model = unique_model("lost")
        admin.create_channel(
            base_url=upstream.base_url,
            api_keys=["sk-upstream-test"],
            models=[model],
            price={"input": 1, "output": 2, "per_request": 0.0001},
        )
        user = admin.create_user(balance=1)
        key = admin.create_token(user["id"])["key"]
        admin.close()

        _calls(gateway.url, key, model, 5)
        assert wait_for_rows(database_url, user["id"], 5).usage_rows == 5

        fault.lose_next_flush_reply()
        _calls(gateway.url, key, model, 5)
        deadline = time.monotonic() + 10
        while fault.replies_lost() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fault.replies_lost() == 1  # a batch committed, its reply was lost

        _calls(gateway.url, key, model, 5)
        wait_for_rows(database_url, user["id"], 15)
        time.sleep(0.5)  # a second write of the batch would land now
        state = books(database_url, user["id"])
        assert state.usage_rows == 15
        _exact(state, credited)
    # Shutting down (what SIGTERM does) writes everything and returns the holds.
    state = books(database_url, user["id"])
    assert state.usage_rows == 15 and state.held == 0
    _exact(state, credited)

    # A restarted instance keeps billing on the same books.
    with Gateway(database_url, tmp_path) as again:
        _calls(again.url, key, model, 3)
    state = books(database_url, user["id"])
    assert state.usage_rows == 18 and state.held == 0
    _exact(state, credited)
