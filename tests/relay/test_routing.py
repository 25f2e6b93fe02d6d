"""Channel order: priority first, weighted shuffle within a priority."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from airelay.errors import GatewayError
from airelay.formats.names import Endpoint
from airelay.relay.routing import attempt_order, channels_for, fastest_first
from airelay.relay.scrub import scrub
from airelay.store.snapshot import ChannelRecord, Snapshot


def channel(name: str, priority: int, weight: int) -> ChannelRecord:
    return ChannelRecord(
        id=name,
        name=name,
        type="openai",
        base_url="http://x/v1",
        api_keys=("k",),
        models=frozenset({"m"}),
        model_mapping={},
        priority=priority,
        weight=weight,
        status="active",
        timeout=None,
    )


def test_priority_groups_come_in_order() -> None:
    chans = [channel("p2", 2, 100), channel("p1a", 1, 1), channel("p3", 3, 1), channel("p1b", 1, 1)]
    for seed in range(20):
        order = [c.name for c in attempt_order(chans, random.Random(seed))]
        assert set(order[:2]) == {"p1a", "p1b"} and order[2:] == ["p2", "p3"]


def test_weights_set_the_share_of_first_attempts() -> None:
    chans = [channel("heavy", 1, 3), channel("light", 1, 1), channel("zero", 1, 0)]
    rng = random.Random(1234)
    firsts = Counter(attempt_order(chans, rng)[0].name for _ in range(20000))
    assert firsts["zero"] == 0
    assert abs(firsts["heavy"] / 20000 - 0.75) < 0.02


def test_scrub_removes_urls_and_keys() -> None:
    text = "Incorrect API key sk-abc123456789 at https://api.example.com/v1/chat (Bearer tok123)"
    cleaned = scrub(text, ["sk-abc123456789"])
    assert "sk-abc" not in cleaned and "example.com" not in cleaned and "tok123" not in cleaned
    assert "Incorrect API key" in cleaned
    assert "sk-abc...wxyz" not in scrub("key sk-abc...wxyz bad")


def _snapshot(routes: dict[Endpoint, dict[str, tuple[ChannelRecord, ...]]]) -> Snapshot:
    full = {endpoint: routes.get(endpoint, {}) for endpoint in Endpoint}
    return Snapshot(
        keys={},
        admin_hashes=frozenset(),
        channels=(),
        routes=full[Endpoint.CHAT],
        endpoint_routes=full,
        known_models=frozenset({"chat-only", "both", "idle"}),
        catalog={},
        prices={},
        group_multipliers={},
    )


def test_channels_for_routes_by_model_and_endpoint() -> None:
    chat, emb = channel("chat", 1, 1), channel("emb", 1, 1)
    snapshot = _snapshot(
        {
            Endpoint.CHAT: {"chat-only": (chat,), "both": (chat,)},
            Endpoint.EMBEDDINGS: {"both": (emb,)},
        }
    )
    assert channels_for(snapshot, "both", Endpoint.CHAT) == [chat]
    assert channels_for(snapshot, "both", Endpoint.EMBEDDINGS) == [emb]
    with pytest.raises(GatewayError) as unserved:
        channels_for(snapshot, "chat-only", Endpoint.EMBEDDINGS)
    assert unserved.value.status == 503 and "embeddings endpoint" in unserved.value.message
    with pytest.raises(GatewayError) as idle:
        channels_for(snapshot, "idle", Endpoint.CHAT)
    assert idle.value.status == 503 and "No channel is available" in idle.value.message
    with pytest.raises(GatewayError) as unknown:
        channels_for(snapshot, "nope", Endpoint.EMBEDDINGS)
    assert unknown.value.status == 404


def test_latency_routing_puts_the_fastest_of_a_priority_first() -> None:
    """``fastest_first``: within a priority, the lowest moving average of the time to a
    response head first (an unmeasured channel counts 0, so it gets tried); priorities
    keep their order."""
    ewma = {"slow": 0.9, "fast": 0.1, "p2fast": 0.01}
    chans = [channel("slow", 1, 100), channel("fast", 1, 1), channel("p2fast", 2, 1)]
    for seed in range(10):
        order = attempt_order(chans, random.Random(seed))
        ranked = fastest_first(order, lambda channel_id: ewma.get(channel_id, 0.0))
        assert [c.name for c in ranked] == ["fast", "slow", "p2fast"]
    fresh = fastest_first(
        [channel("slow", 1, 1), channel("new", 1, 1)], lambda cid: ewma.get(cid, 0.0)
    )
    assert [c.name for c in fresh] == ["new", "slow"]
