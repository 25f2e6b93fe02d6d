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

PER_CALL = 0.0001  # USD per request; these calls' tokens add about 12% to it
QUOTA = 0.001  # room for about nine calls
WORST = usd_to_units(2 * PER_CALL)  # above one call's worst case (20 output tokens at most)
BURST = 200
BODY = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}


@pytest.fixture(scope="module")
def pair(gateway: Gateway) -> Iterator[tuple[Gateway, Gateway]]:
    """Two more instances on the same database, beating every second (the heartbeat also
    refreshes what they know of keys' spend)."""
    settings = gateway.settings
    with (
        Gateway(settings.database_url, settings.data_dir, hold_stale_seconds=4) as first,
        Gateway(settings.database_url, settings.data_dir, hold_stale_seconds=4) as second,
    ):
        yield first, second


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


def burst(urls: list[str], key: str, model: str, count: int = BURST) -> list[int]:
    """``count`` calls at once, spread over ``urls``; their statuses."""

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def call(i: int) -> int:
                response = await client.post(
                    urls[i % len(urls)] + "/v1/chat/completions",
                    json={**BODY, "model": model},
                    headers={"Authorization": f"Bearer {key}"},
                )
                return response.status_code

            return list(await asyncio.gather(*(call(i) for i in range(count))))

    return asyncio.run(run())


def test_a_burst_never_exceeds_a_key_quota_by_more_than_one_call(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA)["key"]
    statuses = burst([gateway.url], key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403} and ok >= 1
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    print(f"\nquota burst, one instance: {ok} of {BURST} calls let through")
    assert state.usage_rows == ok
    assert state.usage_cost <= usd_to_units(QUOTA) + WORST
    # Calls in flight reserve their worst case, so a burst may stop short of the quota;
    # calls one at a time then use the rest of it, and not more than one call beyond.
    for _ in range(20):
        if burst([gateway.url], key, model, count=1) != [200]:
            break
    else:
        raise AssertionError("the quota never ran out")
    time.sleep(0.3)
    state = books(gateway.settings.database_url, user["id"])
    assert usd_to_units(QUOTA) <= state.usage_cost <= usd_to_units(QUOTA) + WORST


def test_two_instances_bound_a_key_quota(
    pair: tuple[Gateway, Gateway], admin: Admin, model: str
) -> None:
    """Each instance is exact against what it knows of the key's spend: its own at once,
    the other's from that instance's flushes, as read on its own next flush of the key or
    heartbeat. Bound: a burst on N instances at the same moment spends at most
    N x (quota + one call's worst case); once the instances have seen each other's spend
    (one heartbeat), the key is refused everywhere."""
    urls = [g.url for g in pair]
    database_url = pair[0].settings.database_url
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA)["key"]
    time.sleep(1.2)  # both instances pick the new key and model up from the database
    statuses = burst(urls, key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403} and ok >= 1
    state = wait_for_rows(database_url, user["id"], ok)
    print(f"\nquota burst, two instances: {ok} of {BURST} calls let through")
    assert state.usage_rows == ok
    assert state.usage_cost <= 2 * (usd_to_units(QUOTA) + WORST)
    for _ in range(20):  # the rest of the quota, one call at a time on either instance
        if burst(urls, key, model, count=2) != [200, 200]:
            break
    time.sleep(1.5)  # a heartbeat: each instance reads what the other has written
    assert burst(urls, key, model).count(200) == 0
    final = books(database_url, user["id"])
    assert final.usage_cost <= 2 * (usd_to_units(QUOTA) + WORST)
