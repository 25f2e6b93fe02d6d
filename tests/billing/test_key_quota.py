"""A key's quota under a burst: 200 concurrent calls on a key with room for ten. The quota
check and the reservation happen with nothing awaited between them, so no more than one
call's worst case beyond the quota is ever let through, on one instance and on two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, wait_for_rows

from airelay.money import usd_to_units

PER_CALL = 0.0001  # USD per request; the tokens of these calls add under 1% to it
QUOTA = 0.001  # room for ten calls
BURST = 200
BODY = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}


@pytest.fixture(scope="module")
def twin(gateway: Gateway) -> Iterator[Gateway]:
    with Gateway(gateway.settings.database_url, gateway.settings.data_dir) as other:
        yield other


@pytest.fixture
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("quota")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[name],
        price={"input": 1, "output": 2, "per_request": PER_CALL},
    )
    return name


def burst(urls: list[str], key: str, model: str) -> list[int]:
    """``BURST`` calls at once, spread over ``urls``; their statuses."""

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def call(i: int) -> int:
                response = await client.post(
                    urls[i % len(urls)] + "/v1/chat/completions",
                    json={**BODY, "model": model},
                    headers={"Authorization": f"Bearer {key}"},
                )
                return response.status_code

            return list(await asyncio.gather(*(call(i) for i in range(BURST))))

    return asyncio.run(run())


def test_a_burst_never_exceeds_a_key_quota_by_more_than_one_call(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA)["key"]
    statuses = burst([gateway.url], key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403}
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    print(f"quota burst, one instance: {ok} of {BURST} calls let through (room for 10)")
    assert state.usage_rows == ok
    # Each call's worst case is about one call's price: at most one beyond the quota.
    assert 10 <= ok <= 11
    assert state.usage_cost <= usd_to_units(QUOTA) + usd_to_units(2 * PER_CALL)


def test_two_instances_bound_a_key_quota(
    gateway: Gateway, twin: Gateway, admin: Admin, model: str
) -> None:
    """Each instance is exact against what it knows; what the other spent reaches it with
    that instance's next flush (or heartbeat). Bound: quota + one worst case per instance
    once both have seen each other's spend; a burst on both at the same moment may reach
    each instance's full quota (N x (quota + one call))."""
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA)["key"]
    time.sleep(1.2)  # the twin picks the new key and model up from the database
    statuses = burst([gateway.url, twin.url], key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403}
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    print(f"quota burst, two instances: {ok} of {BURST} calls let through (room for 10)")
    assert state.usage_rows == ok
    assert ok <= 2 * 11
    # Once both instances have flushed, a later call on either sees the whole spend.
    time.sleep(0.5)
    after = burst([gateway.url, twin.url], key, model)
    assert after.count(200) == 0
    assert books(gateway.settings.database_url, user["id"]).usage_rows == ok
