"""Usage and balance reads: the admin usage view and its summary, a key's own usage, the
balance endpoints (also in the OpenAI-legacy dashboard shapes), and retention of raw rows.

Usage rows are seeded straight into the gateway's database with ``store.usage.insert_batch``
(the writer the billing flush uses), for users created through the management API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from sqlalchemy.ext.asyncio import AsyncConnection
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok

from airelay.billing.retention import UsageRetention
from airelay.config import load_settings
from airelay.money import units_to_usd
from airelay.store import usage_queries
from airelay.store.db import create_engine
from airelay.store.tables import usage_logs
from airelay.store.usage import insert_batch

T = TypeVar("T")
ROW_FIELDS = {
    "id",
    "user_id",
    "token_id",
    "model",
    "endpoint",
    "channel_id",
    "affinity",
    "images",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "characters",
    "audio_seconds",
    "cost",
    "latency_ms",
    "status",
    "request_id",
    "timestamp",
}
# What the operator sees of a row besides: what the call cost upstream.
OPERATOR_FIELDS = {"upstream_cost"}
MARCH_1 = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
OLD_DAY = int(datetime(2001, 1, 10, tzinfo=UTC).timestamp())
DAY = 86400


def run_db(url: str, work: Callable[[AsyncConnection], Awaitable[T]], *, begin: bool = True) -> T:
    """Run ``work`` on a connection to the gateway's database (in a transaction if ``begin``)."""

    async def go() -> T:
        engine = create_engine(url)
        try:
            if begin:
                async with engine.begin() as conn:
                    return await work(conn)
            async with engine.connect() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def usage_row(user_id: str, token_id: str | None, model: str, ts: int, n: int) -> dict[str, Any]:
    return {
        "id": f"use_{user_id[-8:]}_{ts}_{n}",
        "user_id": user_id,
        "token_id": token_id,
        "model": model,
        "endpoint": "/v1/chat/completions",
        "channel_id": "ch_test" if n % 2 else None,
        "prompt_tokens": 100 + n,
        "completion_tokens": 10 * n + 1,
        "cached_tokens": n % 3,
        "reasoning_tokens": n % 5,
        "cache_write_tokens": n % 4,
        "cache_write_1h_tokens": n % 2,
        "affinity": n % 2,
        "images": n % 3,
        "characters": 7 * n,
        "audio_seconds": n % 6,
        "cost": 1_234_567 * (n + 1),
        "latency_ms": 50 + n,
        "status": 200,
        "request_id": f"req_{user_id[-6:]}_{n:04d}",
        "created_at": ts,
        "upstream_cost": None if n % 3 == 0 else 1_000_003 * n,
    }


@dataclass
class Seeded:
    alice: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]
    alice_key: str
    bob_key: str
    carol_quota_key: str
    models: tuple[str, str]
    rows: list[dict[str, Any]]

    def of(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["user_id"] == user["id"]]


@pytest.fixture(scope="module")
def seeded(gateway: Gateway, admin: Admin) -> Seeded:
    """Alice and Bob: 2 models x 10 days (2025-03-01..10) x 2 rows a day, plus rows on the
    edges of 2025-03-06; Carol: 3 rows through a key with a quota, one through another."""
    alice, bob, carol = (admin.create_user(balance=b) for b in (25.5, 3, 1))
    alice_token = admin.create_token(alice["id"])
    bob_token = admin.create_token(bob["id"])
    carol_quota = admin.create_token(carol["id"], quota=2)
    carol_plain = admin.create_token(carol["id"])
    models = (unique_model("use-a"), unique_model("use-b"))
    rows: list[dict[str, Any]] = []
    n = 0
    for user, token in ((alice, alice_token), (bob, bob_token)):
        for day in range(10):
            for hour, model in ((9, models[0]), (15, models[1])):
                rows.append(
                    usage_row(user["id"], token["id"], model, MARCH_1 + day * DAY + hour * 3600, n)
                )
                n += 1
        edge = MARCH_1 + 5 * DAY  # 2025-03-06T00:00:00Z
        for ts in (edge - 1, edge):
            rows.append(usage_row(user["id"], token["id"], models[0], ts, n))
            n += 1
    for token in (carol_quota, carol_quota, carol_quota, carol_plain):
        rows.append(usage_row(carol["id"], token["id"], models[1], MARCH_1 + 7 * DAY + n, n))
        n += 1
    run_db(gateway.settings.database_url, lambda conn: insert_batch(conn, rows))
    return Seeded(
        alice,
        bob,
        carol,
        alice_token["key"],
        bob_token["key"],
        carol_quota["key"],
        models,
        rows,
    )


@pytest.fixture(scope="module")
def user_client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def admin_usage(admin: Admin, **params: Any) -> dict[str, Any]:
    return ok(admin.http.get("/v1/admin/usage", params=params))  # type: ignore[no-any-return]


def ids(body: dict[str, Any]) -> list[str]:
    return [row["id"] for row in body["usage"]]


def newest_first(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


def test_row_shape_and_values(admin: Admin, seeded: Seeded) -> None:
    body = admin_usage(admin, user_id=seeded.alice["id"], limit=1)
    assert set(body) == {"usage", "total", "page", "limit"}
    assert (body["page"], body["limit"]) == (1, 1)
    [row] = body["usage"]
    assert set(row) == ROW_FIELDS | OPERATOR_FIELDS
    expected = max(seeded.of(seeded.alice), key=lambda r: r["created_at"])
    assert expected["upstream_cost"] is not None
    assert row["upstream_cost"] == units_to_usd(expected["upstream_cost"])
    assert row["id"] == expected["id"]
    assert row["timestamp"] == "2025-03-10T15:00:00Z"
    assert row["cost"] == units_to_usd(expected["cost"])
    assert row["request_id"] == expected["request_id"]
    for field in ("token_id", "model", "endpoint", "prompt_tokens", "completion_tokens"):
        assert row[field] == expected[field]
    for field in ("cached_tokens", "reasoning_tokens", "latency_ms", "status", "channel_id"):
        assert row[field] == expected[field]
    assert row["affinity"] is bool(expected["affinity"])
    # Cache reads and writes apart, and the 1-hour part of the writes.
    for field in ("cache_write_tokens", "cache_write_1h_tokens"):
        assert row[field] == expected[field]
    # What the audio endpoints bill.
    for field in ("characters", "audio_seconds"):
        assert row[field] == expected[field]


def test_filters(admin: Admin, seeded: Seeded) -> None:
    alice = seeded.alice["id"]
    mine = seeded.of(seeded.alice)
    body = admin_usage(admin, user_id=alice, limit=200)
    assert body["total"] == len(mine) == 22
    assert ids(body) == newest_first(mine)

    body = admin_usage(admin, model=seeded.models[1], limit=200)
    expected = [r for r in seeded.rows if r["model"] == seeded.models[1]]
    assert body["total"] == len(expected) == 24
    assert ids(body) == newest_first(expected)

    body = admin_usage(admin, user_id=alice, model=seeded.models[0], limit=200)
    assert body["total"] == 12
    assert {r["model"] for r in body["usage"]} == {seeded.models[0]}
    assert {r["user_id"] for r in body["usage"]} == {alice}

    # Plain dates: the end day is included whole (its 23:59:59 row), the next day is not.
    body = admin_usage(admin, user_id=alice, start_date="2025-03-03", end_date="2025-03-05")
    assert body["total"] == 3 * 2 + 1
    stamps = [r["timestamp"] for r in body["usage"]]
    assert stamps[0] == "2025-03-05T23:59:59Z" and stamps[-1] == "2025-03-03T09:00:00Z"
    one_day = admin_usage(admin, user_id=alice, start_date="2025-03-06", end_date="2025-03-06")
    assert [r["timestamp"] for r in one_day["usage"]] == [
        "2025-03-06T15:00:00Z",
        "2025-03-06T09:00:00Z",
        "2025-03-06T00:00:00Z",
    ]
    # Times: an end time includes that very second.
    body = admin_usage(
        admin, user_id=alice, start_date="2025-03-02T09:00:00Z", end_date="2025-03-02T15:00:00Z"
    )
    assert [r["timestamp"] for r in body["usage"]] == [
        "2025-03-02T15:00:00Z",
        "2025-03-02T09:00:00Z",
    ]
    body = admin_usage(admin, start_date="2025-03-10T15:00:01Z")
    assert body == {"usage": [], "total": 0, "page": 1, "limit": 50}
    assert admin_usage(admin, user_id="usr_nobody")["total"] == 0


def test_paging(admin: Admin, seeded: Seeded) -> None:
    for params in ({"limit": 201}, {"limit": 0}, {"page": 0}, {"page": "x"}):
        expect_error(admin.http.get("/v1/admin/usage", params=params), 400)
    assert admin_usage(admin)["limit"] == 50
    seen: list[str] = []
    page = 1
    while True:
        body = admin_usage(admin, page=page, limit=7)
        assert body["total"] == len(seeded.rows)
        assert (body["page"], body["limit"]) == (page, 7)
        if not body["usage"]:
            break
        assert len(body["usage"]) <= 7
        seen.extend(ids(body))
        page += 1
    assert len(seen) == len(set(seen)) == len(seeded.rows)
    assert seen == newest_first(seeded.rows)
    assert ok(admin.http.get("/admin/usage", params={"limit": 3}))["total"] == len(seeded.rows)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"end_date": "2025-13-01"},
        {"start_date": "2025-03-05", "end_date": "2025-03-04"},
    ],
)
def test_bad_dates(admin: Admin, seeded: Seeded, params: dict[str, str]) -> None:
    expect_error(admin.http.get("/v1/admin/usage", params=params), 400)
    expect_error(admin.http.get("/v1/admin/usage/summary", params=params), 400)


@pytest.mark.parametrize(
    ("params", "days", "everything"),
    [
        ({"start_date": "0001-01-01T00:00:00+05:00"}, ("0001-01-01", None), True),
        ({"end_date": "9999-12-31"}, (None, "9999-12-31"), True),
        (
            {"start_date": "0999-01-01", "end_date": "2025-03-01"},
            ("0999-01-01", "2025-03-01"),
            False,
        ),
    ],
)
def test_extreme_dates(
    admin: Admin,
    seeded: Seeded,
    params: dict[str, str],
    days: tuple[str | None, str | None],
    everything: bool,
) -> None:
    """Dates at the ends of the calendar are answered, and days keep four-digit years."""
    first_day = [r for r in seeded.rows if r["created_at"] < MARCH_1 + DAY]
    expected = seeded.rows if everything else first_day
    assert admin_usage(admin, **params, user_id=seeded.alice["id"])["total"] == len(
        [r for r in expected if r["user_id"] == seeded.alice["id"]]
    )
    body = ok(admin.http.get("/v1/admin/usage/summary", params=params))
    assert (body["start_date"], body["end_date"]) == days


def test_admin_usage_needs_a_management_key(user_client: httpx.Client, seeded: Seeded) -> None:
    expect_error(user_client.get("/v1/admin/usage"), 401)
    auth = {"Authorization": f"Bearer {seeded.alice_key}"}
    expect_error(user_client.get("/v1/admin/usage", headers=auth), 403)


def test_own_usage(user_client: httpx.Client, seeded: Seeded) -> None:
    auth = {"Authorization": f"Bearer {seeded.bob_key}"}
    mine = seeded.of(seeded.bob)
    for path in ("/v1/usage", "/usage"):
        body = ok(user_client.get(path, headers=auth, params={"limit": 200}))
        assert body["total"] == len(mine)
        assert ids(body) == newest_first(mine)
        # Never what the calls cost upstream: that is the operator's.
        assert all(set(row) == ROW_FIELDS for row in body["usage"])
    pages = [
        ids(ok(user_client.get("/v1/usage", headers=auth, params={"page": p, "limit": 10})))
        for p in (1, 2, 3)
    ]
    assert [row_id for page in pages for row_id in page] == newest_first(mine)
    body = ok(
        user_client.get(
            "/v1/usage",
            headers=auth,
            params={
                "model": seeded.models[1],
                "start_date": "2025-03-10",
                "end_date": "2025-03-10",
            },
        )
    )
    assert [r["timestamp"] for r in body["usage"]] == ["2025-03-10T15:00:00Z"]
    # Another user's id is refused, not silently answered with someone's rows.
    params = {"user_id": seeded.alice["id"]}
    expect_error(user_client.get("/v1/usage", headers=auth, params=params), 403)
    expect_error(user_client.get("/v1/usage", headers=auth, params={"limit": 201}), 400)
    expect_error(user_client.get("/v1/usage"), 401)
    expect_error(user_client.get("/v1/usage", headers={"Authorization": "Bearer sk-nope"}), 401)


def test_balance(user_client: httpx.Client, admin: Admin) -> None:
    user = admin.create_user(balance=25.5)
    key = admin.create_token(user["id"])["key"]
    auth = {"Authorization": f"Bearer {key}"}
    for prefix in ("/v1", ""):
        body = ok(user_client.get(f"{prefix}/balance", headers=auth))
        assert set(body) == {"balance", "currency", "total_spent", "last_updated"}
        assert (body["balance"], body["currency"], body["total_spent"]) == (25.5, "USD", 0)
        assert body["last_updated"].endswith("Z")
        updated = datetime.fromisoformat(body["last_updated"])
        assert abs(time.time() - updated.timestamp()) < 120
        assert ok(user_client.get(f"{prefix}/billing/balance", headers=auth)) == {"balance": 25.5}
    # The Anthropic and Google SDKs' ways of sending the key work too.
    assert ok(user_client.get("/v1/billing/balance", headers={"x-api-key": key}))["balance"] == 25.5
    assert ok(user_client.get("/v1/billing/balance", params={"key": key}))["balance"] == 25.5
    for path in ("/v1/balance", "/v1/billing/balance", "/dashboard/billing/subscription"):
        expect_error(user_client.get(path), 401)
        expect_error(user_client.get(path, headers={"Authorization": "Bearer sk-unknown"}), 401)


def test_dashboard_subscription(user_client: httpx.Client, admin: Admin, seeded: Seeded) -> None:
    user = admin.create_user(balance=25.5)
    key = admin.create_token(user["id"])["key"]
    auth = {"Authorization": f"Bearer {key}"}
    for path in ("/dashboard/billing/subscription", "/v1/dashboard/billing/subscription"):
        body = ok(user_client.get(path, headers=auth))
        assert body == {
            "object": "billing_subscription",
            "has_payment_method": True,
            "soft_limit_usd": 25.5,
            "hard_limit_usd": 25.5,
            "system_hard_limit_usd": 25.5,
            "access_until": 0,
        }
    # Without a quota the limit is all the user has had: balance plus spend.
    auth = {"Authorization": f"Bearer {seeded.alice_key}"}
    balance = ok(user_client.get("/v1/balance", headers=auth))
    body = ok(user_client.get("/dashboard/billing/subscription", headers=auth))
    assert body["hard_limit_usd"] == pytest.approx(balance["balance"] + balance["total_spent"])
    # A key with a quota (and an expiry) is limited by it.
    expires = "2030-01-02T03:04:05Z"
    quota_key = admin.create_token(user["id"], quota=5, expires_at=expires)["key"]
    body = ok(
        user_client.get(
            "/v1/dashboard/billing/subscription", headers={"Authorization": f"Bearer {quota_key}"}
        )
    )
    assert body["hard_limit_usd"] == body["soft_limit_usd"] == 5
    assert body["access_until"] == int(datetime.fromisoformat(expires).timestamp())


def cents(rows: list[dict[str, Any]]) -> float:
    return sum(r["cost"] for r in rows) / 10**8


def test_dashboard_usage(user_client: httpx.Client, seeded: Seeded) -> None:
    auth = {"Authorization": f"Bearer {seeded.alice_key}"}
    mine = seeded.of(seeded.alice)

    def total_usage(headers: dict[str, str] = auth, **params: str) -> float:
        totals = set()
        for path in ("/dashboard/billing/usage", "/v1/dashboard/billing/usage"):
            body = ok(user_client.get(path, headers=headers, params=params))
            assert set(body) == {"object", "total_usage"} and body["object"] == "list"
            totals.add(body["total_usage"])
        [total] = totals
        return float(total)

    assert total_usage() == pytest.approx(cents(mine))
    assert total_usage(start_date="2025-03-01", end_date="2025-03-31") == pytest.approx(cents(mine))
    # Both days are included.
    expected = [r for r in mine if MARCH_1 + 4 * DAY <= r["created_at"] < MARCH_1 + 6 * DAY]
    assert len(expected) == 6
    both_days = total_usage(start_date="2025-03-05", end_date="2025-03-06")
    assert both_days == pytest.approx(cents(expected))
    assert total_usage(start_date="2025-04-01", end_date="2025-04-30") == 0
    params = {"start_date": "x"}
    expect_error(user_client.get("/dashboard/billing/usage", headers=auth, params=params), 400)
    expect_error(user_client.get("/dashboard/billing/usage"), 401)

    # A key with a quota shows its own spend; a key without one, its user's.
    carol = seeded.of(seeded.carol)
    quota_auth = {"Authorization": f"Bearer {seeded.carol_quota_key}"}
    assert total_usage(quota_auth) == pytest.approx(cents(carol[:3]))
    quota_body = ok(user_client.get("/dashboard/billing/subscription", headers=quota_auth))
    assert quota_body["hard_limit_usd"] == 2


def operator_counters(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The upstream cost and the margin over the rows whose cost is known."""
    known = [r for r in rows if r["upstream_cost"] is not None]
    spent = sum(r["upstream_cost"] for r in known)
    return {
        "upstream_cost": units_to_usd(spent),
        "margin": units_to_usd(sum(r["cost"] for r in known) - spent),
        "cost_known_requests": len(known),
    }


def test_summary(admin: Admin, seeded: Seeded) -> None:
    def summary(**params: str) -> dict[str, Any]:
        return ok(admin.http.get("/v1/admin/usage/summary", params=params))  # type: ignore[no-any-return]

    def counters(rows: list[dict[str, Any]]) -> dict[str, Any]:
        prompt = sum(r["prompt_tokens"] for r in rows)
        completion = sum(r["completion_tokens"] for r in rows)
        return {
            "requests": len(rows),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cached_tokens": sum(r["cached_tokens"] for r in rows),
            "reasoning_tokens": sum(r["reasoning_tokens"] for r in rows),
            "cache_write_tokens": sum(r["cache_write_tokens"] for r in rows),
            "images": sum(r["images"] for r in rows),
            "characters": sum(r["characters"] for r in rows),
            "audio_seconds": sum(r["audio_seconds"] for r in rows),
            "total_tokens": prompt + completion,
            "cost": units_to_usd(sum(r["cost"] for r in rows)),
            **operator_counters(rows),
        }

    alice = seeded.of(seeded.alice)
    body = summary(user_id=seeded.alice["id"])
    assert set(body) == {
        "start_date",
        "end_date",
        "totals",
        "by_model",
        "by_day",
        "by_channel",
        "by_user",
    }
    assert body["totals"] == counters(alice)
    assert {m["model"]: m for m in body["by_model"]} == {
        model: {"model": model, **counters([r for r in alice if r["model"] == model])}
        for model in seeded.models
    }
    assert [d["date"] for d in body["by_day"]] == [f"2025-03-{d:02d}" for d in range(1, 11)]
    assert sum(d["requests"] for d in body["by_day"]) == len(alice)

    everyone = summary()
    by_model = {m["model"]: m for m in everyone["by_model"]}
    for model in seeded.models:
        rows = [r for r in seeded.rows if r["model"] == model]
        assert by_model[model] == {"model": model, **counters(rows)}
        assert summary(model=model)["totals"] == counters(rows)

    # A range counts the whole days it touches, end day included.
    body = summary(start_date="2025-03-05", end_date="2025-03-06T00:00:00Z")
    assert (body["start_date"], body["end_date"]) == ("2025-03-05", "2025-03-06")
    days = [r for r in seeded.rows if MARCH_1 + 4 * DAY <= r["created_at"] < MARCH_1 + 6 * DAY]
    assert body["totals"] == counters(days)
    assert [d["date"] for d in body["by_day"]] == ["2025-03-05", "2025-03-06"]
    assert summary(start_date="2024-01-01", end_date="2024-12-31")["totals"]["requests"] == 0
    assert ok(admin.http.get("/admin/usage/summary"))["totals"] == everyone["totals"]


def test_summary_across_channels_and_users(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    """The operator's view adds totals per channel and per user, named, largest charge first;
    the filters apply to them as to the rest; a user's own summary has neither."""
    channel = admin.create_channel(
        name="<b>named</b>", type="openai", base_url=upstream.base_url, api_keys=["k"]
    )
    model = unique_model("across")
    alice, bob = admin.create_user(balance=1), admin.create_user(balance=1)  # the seeded stay
    rows = [
        {**usage_row(user["id"], None, model, MARCH_1 + 3 * DAY + n, 9000 + n), "channel_id": ch}
        for n, (user, ch) in enumerate(
            [(alice, channel["id"]), (alice, channel["id"]), (bob, channel["id"]), (bob, None)]
        )
    ]
    url = gateway.settings.database_url
    run_db(url, lambda conn: insert_batch(conn, rows))
    try:
        _check_groups(admin, model, channel, alice, bob, rows)
    finally:  # the other tests count every raw row of the gateway
        ids = [r["id"] for r in rows]
        run_db(url, lambda conn: conn.execute(usage_logs.delete().where(usage_logs.c.id.in_(ids))))


def _check_groups(
    admin: Admin,
    model: str,
    channel: dict[str, Any],
    alice: dict[str, Any],
    bob: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    def charged(subset: list[dict[str, Any]]) -> float:
        return units_to_usd(sum(r["cost"] for r in subset))

    body = ok(admin.http.get("/v1/admin/usage/summary", params={"model": model}))
    assert [(c["channel_id"], c["name"], c["requests"]) for c in body["by_channel"]] == [
        (channel["id"], "<b>named</b>", 3),
        (None, None, 1),
    ]
    assert body["by_channel"][0]["cost"] == charged(rows[:3])
    assert body["by_channel"][0]["total_tokens"] == sum(
        r["prompt_tokens"] + r["completion_tokens"] for r in rows[:3]
    )
    by_user = {u["user_id"]: u for u in body["by_user"]}
    assert set(by_user) == {alice["id"], bob["id"]}
    assert by_user[bob["id"]]["email"] == bob["email"]
    assert by_user[bob["id"]]["cost"] == charged(rows[2:])
    assert by_user[alice["id"]]["requests"] == 2
    costs = [u["cost"] for u in body["by_user"]]
    assert costs == sorted(costs, reverse=True)
    assert sum(costs) == pytest.approx(body["totals"]["cost"])

    # The user filter narrows the groups too; another range leaves them empty.
    only_bob = ok(
        admin.http.get("/v1/admin/usage/summary", params={"model": model, "user_id": bob["id"]})
    )
    assert [u["user_id"] for u in only_bob["by_user"]] == [bob["id"]]
    assert sorted(c["requests"] for c in only_bob["by_channel"]) == [1, 1]
    empty = ok(
        admin.http.get(
            "/v1/admin/usage/summary",
            params={"model": model, "start_date": "2025-03-05", "end_date": "2025-03-06"},
        )
    )
    assert (empty["by_channel"], empty["by_user"]) == ([], [])


def test_retention_setting() -> None:
    assert load_settings({}).usage_retention_days == 0
    env = {"AIRELAY_USAGE_RETENTION_DAYS": "30"}
    assert load_settings(env).usage_retention_days == 30
    with pytest.raises(ValueError):
        load_settings({"AIRELAY_USAGE_RETENTION_DAYS": "forever"})


def test_retention_deletes_only_old_raw_rows(
    gateway: Gateway, admin: Admin, seeded: Seeded
) -> None:
    url = gateway.settings.database_url
    user = admin.create_user()
    model = unique_model("use-old")
    old = [usage_row(user["id"], None, model, OLD_DAY + i * 3600, 5000 + i) for i in range(25)]
    run_db(url, lambda conn: insert_batch(conn, old))
    assert admin_usage(admin, user_id=user["id"])["total"] == 25
    before = ok(admin.http.get("/v1/admin/usage/summary", params={"user_id": user["id"]}))

    async def expire() -> int:
        engine = create_engine(url)
        try:
            # Nothing is kept forever by default, so nothing happens.
            assert await UsageRetention(engine, 0).run_once() == 0
            # 2001 is gone after 20 years; March 2025 is kept. Small batches on purpose.
            return await UsageRetention(engine, 20 * 365, batch=10).run_once()
        finally:
            await engine.dispose()

    assert asyncio.run(expire()) == 25
    assert admin_usage(admin, user_id=user["id"])["total"] == 0
    assert admin_usage(admin)["total"] == len(seeded.rows)
    after = ok(admin.http.get("/v1/admin/usage/summary", params={"user_id": user["id"]}))
    assert after == before and after["totals"]["requests"] == 25


def test_retention_task_runs_at_start(gateway: Gateway, admin: Admin, seeded: Seeded) -> None:
    url = gateway.settings.database_url
    user = admin.create_user()
    old = [
        usage_row(user["id"], None, unique_model("use-old"), OLD_DAY, 7000 + i) for i in range(3)
    ]
    run_db(url, lambda conn: insert_batch(conn, old))

    async def lifecycle() -> int:
        engine = create_engine(url)
        retention = UsageRetention(engine, 20 * 365, interval=3600)
        try:
            await retention.start()
            for _ in range(100):
                async with engine.connect() as conn:
                    _, left = await usage_queries.page_usage(
                        conn, user_id=user["id"], page=1, limit=1
                    )
                if left == 0:
                    break
                await asyncio.sleep(0.05)
            return left
        finally:
            await retention.stop()
            await engine.dispose()

    assert asyncio.run(lifecycle()) == 0
    assert admin_usage(admin)["total"] == len(seeded.rows)


def test_spend_between_and_delete_directly(gateway: Gateway, seeded: Seeded) -> None:
    alice = seeded.alice["id"]

    async def read(conn: AsyncConnection) -> tuple[int, int, int]:
        return (
            await usage_queries.spend_between(conn, alice, None, None),
            await usage_queries.spend_between(conn, alice, "2025-03-10", "2025-03-10"),
            await usage_queries.delete_older_than(conn, MARCH_1 - DAY),
        )

    everything, last_day, deleted = run_db(gateway.settings.database_url, read, begin=False)
    mine = seeded.of(seeded.alice)
    assert everything == sum(r["cost"] for r in mine)
    assert last_day == sum(r["cost"] for r in mine if r["created_at"] >= MARCH_1 + 9 * DAY)
    assert deleted == 0


def test_deep_pages_equal_plain_offsets(
    gateway: Gateway, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deep pages (seek by time, then skip the ties) match a plain OFFSET, ties included."""
    user = admin.create_user()["id"]
    model = unique_model("use-ties")
    stamps = [MARCH_1 + (i % 4) * 60 for i in range(30)]  # 4 instants, 7-8 rows each
    rows = [usage_row(user, None, model, ts, 8000 + i) for i, ts in enumerate(stamps)]
    run_db(gateway.settings.database_url, lambda conn: insert_batch(conn, rows))
    try:
        check_deep_pages(gateway, admin, monkeypatch, user, rows)
    finally:  # leave the seeded rows alone in the table, whatever the test order
        delete = usage_logs.delete().where(usage_logs.c.user_id == user)
        run_db(gateway.settings.database_url, lambda conn: conn.execute(delete))


def check_deep_pages(
    gateway: Gateway,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
    user: str,
    rows: list[dict[str, Any]],
) -> None:
    async def pages(conn: AsyncConnection, limit: int) -> list[list[str]]:
        found = []
        for page in range(1, 30 // limit + 3):
            got, total = await usage_queries.page_usage(
                conn, user_id=user, start=MARCH_1, page=page, limit=limit
            )
            assert total == 30
            found.append([r["id"] for r in got])
        return found

    for limit in (1, 3, 7, 30):
        plain = run_db(gateway.settings.database_url, partial(pages, limit=limit))
        monkeypatch.setattr(usage_queries, "DEEP_OFFSET", 0)
        deep = run_db(gateway.settings.database_url, partial(pages, limit=limit))
        monkeypatch.undo()
        assert deep == plain
        assert [i for page in plain for i in page] == newest_first(rows)
    # Through the API too, with the deep path on.
    monkeypatch.setattr(usage_queries, "DEEP_OFFSET", 0)
    body = admin_usage(admin, user_id=user, page=3, limit=7)
    assert ids(body) == newest_first(rows)[14:21] and body["total"] == 30
    assert admin_usage(admin, user_id=user, page=9, limit=7)["usage"] == []


def test_a_billed_call_shows_everywhere(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, user_client: httpx.Client
) -> None:
    """One real call through the gateway: its row (with the call's x-request-id), the
    balance, the spend and the dashboard figures all agree."""
    model = unique_model("use-live")
    price = {"input": 1, "output": 2, "per_request": 0.0002}
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], price=price
    )
    user = admin.create_user(balance=2)
    auth = {"Authorization": f"Bearer {admin.create_token(user['id'])['key']}"}
    reply = user_client.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": model, "messages": [{"role": "user", "content": "hello there"}]},
    )
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 10
    while not (body := admin_usage(admin, user_id=user["id"]))["usage"]:
        assert time.monotonic() < deadline, "the call's usage row never arrived"
        time.sleep(0.1)
    [row] = body["usage"]
    assert row["request_id"] == reply.headers["x-request-id"]
    assert row["model"] == model and row["endpoint"] == "/v1/chat/completions"
    usage = reply.json()["usage"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert row["cost"] > 0
    assert row["upstream_cost"] is None  # the channel has no cost set
    own = {k: v for k, v in row.items() if k not in OPERATOR_FIELDS}
    assert ok(user_client.get("/v1/usage", headers=auth))["usage"] == [own]

    balance = ok(user_client.get("/v1/balance", headers=auth))
    assert balance["total_spent"] == pytest.approx(row["cost"])
    assert balance["balance"] == pytest.approx(2 - row["cost"])
    subscription = ok(user_client.get("/dashboard/billing/subscription", headers=auth))
    assert subscription["hard_limit_usd"] == pytest.approx(2)
    today = datetime.now(UTC).date().isoformat()
    spent = ok(
        user_client.get(
            "/dashboard/billing/usage",
            headers=auth,
            params={"start_date": today, "end_date": today},
        )
    )
    assert spent["total_usage"] == pytest.approx(row["cost"] * 100)
    remaining = subscription["hard_limit_usd"] - spent["total_usage"] / 100
    assert remaining == pytest.approx(balance["balance"])
