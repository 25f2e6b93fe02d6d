"""A key's quota under a burst: 200 concurrent calls on a key with room for about nine. Each
call reserves its worst case against the instance's part of the quota, and parts are taken
from the database under the key's row lock, so the quota is never overspent, on one
instance and on two sharing the database; a quota may reset daily, weekly or monthly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from prometheus_client.parser import text_string_to_metric_families
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, wait_for_rows
from support.redis_server import require_redis

from airelay.money import usd_to_units

PER_CALL = 0.0001  # USD per request; these calls' tokens add about 12% to it
QUOTA = 0.001  # room for about nine calls
WORST = usd_to_units(2 * PER_CALL)  # above one call's worst case (20 output tokens at most)
BURST = 200
BODY = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}


@pytest.fixture(scope="module")
def pair(gateway: Gateway) -> Iterator[tuple[Gateway, Gateway]]:
    """Two more instances on the same database (on PostgreSQL, sharing Redis too, as a
    deployment of several instances does: limits and configuration changes through it)."""
    settings = gateway.settings
    shared = settings.database_url.startswith("postgresql")
    extra = {"hold_stale_seconds": 4, "redis_url": require_redis() if shared else None}
    with (
        Gateway(settings.database_url, settings.data_dir, **extra) as first,
        Gateway(settings.database_url, settings.data_dir, **extra) as second,
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


def quota_rejections(gateway: Gateway) -> float:
    """``airelay_limit_rejections_total{scope="key",kind="quota"}`` from ``/metrics``."""
    for family in text_string_to_metric_families(httpx.get(gateway.url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "airelay_limit_rejections_total" and sample.labels == {
                "scope": "key",
                "kind": "quota",
            }:
                return sample.value
    return 0.0


def test_a_burst_never_exceeds_a_key_quota(gateway: Gateway, admin: Admin, model: str) -> None:
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA)["key"]
    before = quota_rejections(gateway)
    statuses = burst([gateway.url], key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403} and ok >= 1
    assert quota_rejections(gateway) - before == statuses.count(403)
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    print(f"\nquota burst, one instance: {ok} of {BURST} calls let through")
    assert state.usage_rows == ok
    assert state.usage_cost <= usd_to_units(QUOTA)
    # Calls in flight reserve their worst case, so a burst may stop short of the quota;
    # calls one at a time then use the rest of it, up to the last worst case that fits.
    for _ in range(20):
        if burst([gateway.url], key, model, count=1) != [200]:
            break
    else:
        raise AssertionError("the quota never ran out")
    time.sleep(0.3)
    state = books(gateway.settings.database_url, user["id"])
    assert usd_to_units(QUOTA) - WORST <= state.usage_cost <= usd_to_units(QUOTA)


def test_two_instances_never_exceed_a_key_quota(
    pair: tuple[Gateway, Gateway], admin: Admin, model: str
) -> None:
    """Each instance reserves against its own part of the key's quota, taken from the
    database under the key's row lock: two instances' parts never add up to more than
    the quota, whatever the timing of their calls."""
    urls = [g.url for g in pair]
    database_url = pair[0].settings.database_url
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"], quota=QUOTA, quota_period="daily")["key"]
    time.sleep(1.2)  # both instances pick the new key and model up from the database
    statuses = burst(urls, key, model)
    ok = statuses.count(200)
    assert set(statuses) <= {200, 403} and ok >= 1
    state = wait_for_rows(database_url, user["id"], ok)
    print(f"\nquota burst, two instances: {ok} of {BURST} calls let through")
    assert state.usage_rows == ok
    assert state.usage_cost <= usd_to_units(QUOTA)
    for _ in range(20):  # the rest of the quota, one call at a time on either instance
        if burst(urls, key, model, count=2) != [200, 200]:
            break
    assert burst(urls, key, model).count(200) == 0
    time.sleep(0.3)
    assert books(database_url, user["id"]).usage_cost <= usd_to_units(QUOTA)


def test_a_key_shows_its_window(gateway: Gateway, admin: Admin, model: str) -> None:
    user = admin.create_user(balance=10)
    token = admin.create_token(user["id"], quota=QUOTA, quota_period="weekly")
    assert token["quota_period"] == "weekly" and token["quota_used"] == 0
    resets = datetime.fromisoformat(token["quota_resets_at"].replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert resets.weekday() == 0 and (resets.hour, resets.minute) == (0, 0)
    assert now < resets <= now + timedelta(days=7)
    assert burst([gateway.url], token["key"], model, count=1) == [200]
    wait_for_rows(gateway.settings.database_url, user["id"], 1)
    shown = admin.http.get(f"/v1/admin/tokens/{token['id']}").json()
    assert 0 < shown["quota_used"] == shown["used"] <= QUOTA
    lifetime = admin.http.patch(f"/v1/admin/tokens/{token['id']}", json={"quota_period": None})
    assert lifetime.json()["quota_period"] is None
    assert lifetime.json()["quota_resets_at"] is None
    assert lifetime.json()["quota_used"] == shown["used"]


@pytest.mark.parametrize("period", ["hourly", "Daily", "", 1])
def test_an_unknown_period_is_refused(admin: Admin, period: object) -> None:
    user = admin.create_user(balance=1)
    created = admin.http.post(
        "/v1/admin/tokens", json={"user_id": user["id"], "quota": 1, "quota_period": period}
    )
    assert created.status_code == 400, created.text
    token = admin.create_token(user["id"], quota=1)
    patched = admin.http.patch(f"/v1/admin/tokens/{token['id']}", json={"quota_period": period})
    assert patched.status_code == 400, patched.text
