"""``airelay_limit_rejections``: every refusal at a limit is counted by scope and kind, and
an admitted call counts nothing. Counters on a fixed clock (no window turns mid-test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY
from relay.test_limits_counters import channel, key, snapshot

from airelay.errors import GatewayError
from airelay.observe import metrics
from airelay.relay.limit_memory import MemoryCounters
from airelay.relay.limits import RateLimits
from airelay.store.snapshot import KeyRecord, Snapshot


def rejections() -> dict[tuple[str, str], float]:
    metrics.flush()
    found: dict[tuple[str, str], float] = {}
    for metric in REGISTRY.collect():
        if metric.name != "airelay_limit_rejections":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                found[(sample.labels["scope"], sample.labels["kind"])] = sample.value
    return found


def grew(before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    after = rejections()
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def stage() -> RateLimits:
    return RateLimits(MemoryCounters(lambda: 1_000_020.0))


async def admit_then_refuse(
    limits: RateLimits, snap: Snapshot, record: KeyRecord, model: str = "m", body: int = 4
) -> None:
    before = rejections()
    await limits.acquire(snap, record, model, body)  # held: a slot stays taken
    assert grew(before) == {}  # an admitted call counts nothing
    with pytest.raises(GatewayError) as caught:
        await limits.acquire(snap, record, model, body)
    assert caught.value.status == 429


CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, tuple[str, str]]] = [
    ("key rpm", {}, {"rpm": 1}, "default", ("key", "rpm")),
    ("key tpm", {}, {"tpm": 10}, "default", ("key", "tpm")),
    ("key rpd", {"requests_per_day": 1}, {}, "default", ("key", "rpd")),
    ("key concurrency", {}, {"max_concurrency": 1}, "default", ("key", "concurrency")),
    (
        "group rpm",
        {"groups": {"free": {"requests_per_minute": 1}}},
        {},
        "free",
        ("group", "rpm"),
    ),
    (
        "model concurrency",
        {"models": {"m": {"max_concurrency": 1}}},
        {},
        "default",
        ("model", "concurrency"),
    ),
]


@pytest.mark.parametrize(
    ("rate_limits", "fields", "group", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_refusal_counts_its_scope_and_kind(
    rate_limits: dict[str, Any], fields: dict[str, Any], group: str, expected: tuple[str, str]
) -> None:
    async def main() -> None:
        before = rejections()
        body = 400 if "tpm" in fields else 4  # 100 tokens estimated: above 10, capped
        await admit_then_refuse(
            stage(), snapshot(rate_limits), key(group=group, **fields), body=body
        )
        assert grew(before) == {expected: 1.0}

    asyncio.run(main())


def test_a_channel_passed_over_counts_for_the_channel() -> None:
    async def main() -> None:
        limits = stage()
        limited = channel(rpm=1)
        before = rejections()
        assert await limits.admit_channel(limited, 4) is not None
        assert grew(before) == {}
        assert await limits.admit_channel(limited, 4) is None
        assert grew(before) == {("channel", "rpm"): 1.0}

    asyncio.run(main())
