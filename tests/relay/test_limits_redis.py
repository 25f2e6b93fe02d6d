"""Limits counted in Redis: two gateway instances on one database and one Redis enforce a
limit once (not once per instance), and a Redis killed mid-load gives the documented
behaviour (``AIRELAY_LIMITS_REDIS_FAILURE``: closed refuses with 503 and ``Retry-After``,
open lets calls pass), then counting resumes when it is back, with no restart."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fakes.loopback import Behaviour
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.databases import create_postgres_database, drop_postgres_database
from support.gateway import Gateway
from support.redis_server import RedisProcess, require_redis

HI = [{"role": "user", "content": "hi"}]


def clear_of_minute_edge(margin: float = 10.0) -> None:
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def chat(base: str, key: str, model: str) -> httpx.Response:
    return httpx.post(
        base + "/v1/chat/completions",
        content=json.dumps({"model": model, "messages": HI}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=20,
    )


def wait_until_served(base: str, key: str, model: str, timeout: float = 10) -> None:
    """An instance that did not take the write sees it within its poll interval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {key}"})
        if models.status_code == 200 and model in [m["id"] for m in models.json()["data"]]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{base} never served {model}")


def serve(admin: Admin, upstream: FakeOpenAI, model: str, **limits: int) -> dict[str, Any]:
    """A channel of the fake upstream serving ``model``, with channel ``limits``."""
    return admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        **limits,
    )


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def pair(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Gateway]]:
    """Two instances on one PostgreSQL and the shared test Redis."""
    redis_url = require_redis()
    data: Path = tmp_path_factory.mktemp("data")
    with (
        Gateway(database, data, redis_url=redis_url) as first,
        Gateway(database, data, redis_url=redis_url) as second,
    ):
        yield [first, second]


def shared_key(
    pair: list[Gateway], upstream: FakeOpenAI, name: str, **limits: int
) -> tuple[str, str]:
    """A model of the fake upstream and a key with ``limits``, both instances serving them:
    (key, model)."""
    first, second = pair
    admin = Admin(first.url, first.admin_key)
    model = unique_model(name)
    serve(admin, upstream, model)
    key: str = admin.create_token(**limits)["key"]
    wait_until_served(second.url, key, model)
    return key, model


def test_two_instances_enforce_one_limit(pair: list[Gateway], upstream: FakeOpenAI) -> None:
    key, model = shared_key(pair, upstream, "shared", rpm=4, tpm=100_000)
    clear_of_minute_edge()
    answers = [chat(pair[i % 2].url, key, model) for i in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers[:4]] == [
        "3",
        "2",
        "1",
        "0",
    ]
    assert (
        answers[4].headers["Retry-After"] == answers[5].headers["Retry-After"]
        or abs(int(answers[4].headers["Retry-After"]) - int(answers[5].headers["Retry-After"])) <= 1
    )


def test_calls_in_flight_count_across_instances(pair: list[Gateway], upstream: FakeOpenAI) -> None:
    first, second = pair
    admin = Admin(first.url, first.admin_key)
    model = unique_model("inflight")
    serve(admin, upstream, model)
    key = admin.create_token(max_concurrency=1)["key"]
    wait_until_served(second.url, key, model)
    upstream.script(Behaviour.slow(1.0))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sent = len(upstream.chat_requests)
        slow = pool.submit(chat, first.url, key, model)
        deadline = time.monotonic() + 10
        while len(upstream.chat_requests) == sent:  # the slow call is in flight
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert chat(second.url, key, model).status_code == 429
        assert slow.result().status_code == 200
    time.sleep(0.2)  # the slot goes back in the background
    assert chat(second.url, key, model).status_code == 200


def test_two_instances_with_grants_pass_exactly_the_limit(
    pair: list[Gateway], upstream: FakeOpenAI
) -> None:
    """A limit large enough to be leased (``limit_lease``): each instance takes calls from
    its grant, yet together they pass exactly the limit, never more."""
    key, model = shared_key(pair, upstream, "leased", rpm=100)
    clear_of_minute_edge(20)
    statuses = [chat(pair[i % 2].url, key, model).status_code for i in range(130)]
    assert statuses.count(200) == 100, statuses
    assert set(statuses[110:]) == {429}, statuses


@pytest.fixture(scope="module")
def counted(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, redis.Redis]]:
    """One instance on a Redis of its own, so that the scripts it runs can be counted;
    leases off, so that each call counts in Redis (``leased`` has them on)."""
    data: Path = tmp_path_factory.mktemp("counted")
    with (
        RedisProcess() as server,
        Gateway(database, data, redis_url=server.url, limits_leases=False) as gateway,
    ):
        client = redis.Redis.from_url(server.url)
        try:
            yield gateway, client
        finally:
            client.close()


def scripts_run(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def counted_calls(client: redis.Redis, channel_id: str) -> int:
    """What a channel's requests-per-minute counters hold, all windows together."""
    names = client.keys(f"airelay:limits:c:{channel_id}:rpm:*")
    return sum(int(value or 0) for value in client.mget(names)) if names else 0


def test_key_and_channel_limits_in_one_script(
    counted: tuple[Gateway, redis.Redis], upstream: FakeOpenAI
) -> None:
    gateway, client = counted
    admin = Admin(gateway.url, gateway.admin_key)
    model = unique_model("joint")
    serve(admin, upstream, model, rpm=1000)
    key = admin.create_token(rpm=1000)["key"]  # requests only: a call's end changes nothing
    clear_of_minute_edge()
    assert chat(gateway.url, key, model).status_code == 200
    before = scripts_run(client)
    for _ in range(5):
        assert chat(gateway.url, key, model).status_code == 200
    # One script per call counts the key's and the channel's limits (it was two).
    assert scripts_run(client) - before == 5


def counter_sum(client: redis.Redis, pattern: str) -> int:
    names = client.keys("airelay:limits:" + pattern)
    return sum(int(value or 0) for value in client.mget(names)) if names else 0


def test_a_calls_end_is_one_script_for_key_and_channel(
    counted: tuple[Gateway, redis.Redis], upstream: FakeOpenAI
) -> None:
    """Tokens and slots in flight on both the key and the channel: a call's end gives both
    back in one script, and the counters hold the real tokens and no slot afterwards."""
    gateway, client = counted
    admin = Admin(gateway.url, gateway.admin_key)
    model = unique_model("ends")
    channel = serve(admin, upstream, model, tpm=10**6, max_concurrency=10)
    token = admin.create_token(tpm=10**6, max_concurrency=10)
    clear_of_minute_edge()

    def call() -> int:
        answer = chat(gateway.url, token["key"], model)
        assert answer.status_code == 200
        used: int = answer.json()["usage"]["total_tokens"]
        return used

    tokens = call()
    time.sleep(0.1)  # the first call's end is counted
    before = scripts_run(client)
    tokens += sum(call() for _ in range(5))
    time.sleep(0.3)  # ends are sent without waiting
    # Five calls: five takes and five ends, each end one script for both (it was two).
    assert scripts_run(client) - before == 10
    assert counter_sum(client, f"k:{token['id']}:tpm:*") == tokens
    assert counter_sum(client, f"c:{channel['id']}:tpm:*") == tokens
    assert counter_sum(client, f"k:{token['id']}:cc") == 0
    assert counter_sum(client, f"c:{channel['id']}:cc") == 0


def test_a_call_over_its_key_limits_is_refused_first(
    counted: tuple[Gateway, redis.Redis], upstream: FakeOpenAI
) -> None:
    """The key's take waits for the channel's, yet a call over the key's limits is refused
    with 429 before any other error, as when limits are taken first."""
    gateway, client = counted
    admin = Admin(gateway.url, gateway.admin_key)
    model, unlimited = unique_model("first"), unique_model("unlimited")
    channel = serve(admin, upstream, model, rpm=1000)
    serve(admin, upstream, unlimited)
    clear_of_minute_edge()
    key = admin.create_token(rpm=1)["key"]
    sent = len(upstream.chat_requests)
    assert chat(gateway.url, key, model).status_code == 200
    refused = chat(gateway.url, key, model)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(upstream.chat_requests) == sent + 1
    assert counted_calls(client, channel["id"]) == 1  # the refused call counted nowhere
    assert chat(gateway.url, key, unlimited).status_code == 429  # no channel limits
    assert chat(gateway.url, key, unique_model("nowhere")).status_code == 429  # not 404
    # A user who cannot pay gets 402 while under the key's limits, then 429.
    broke = admin.create_token(admin.create_user(balance=0)["id"], rpm=1)["key"]
    unpaid = chat(gateway.url, broke, model)
    assert unpaid.status_code == 402 and unpaid.headers["x-ratelimit-limit-requests"] == "1"
    assert chat(gateway.url, broke, model).status_code == 429
    assert counted_calls(client, channel["id"]) == 1


def test_redis_killed_mid_load_then_back(
    database: str, tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI
) -> None:
    data: Path = tmp_path_factory.mktemp("own-redis")
    with (
        RedisProcess() as server,
        Gateway(database, data, redis_url=server.url) as closed,
        Gateway(database, data, redis_url=server.url, limits_redis_failure="open") as open_,
    ):
        admin = Admin(closed.url, closed.admin_key)
        model = unique_model("outage")
        serve(admin, upstream, model)
        key = admin.create_token(rpm=100_000)["key"]
        wait_until_served(open_.url, key, model)
        # (started, finished, instance, status, Retry-After)
        log: list[tuple[float, float, int, int, str | None]] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                for index, gateway in enumerate((closed, open_)):
                    started = time.monotonic()
                    answer = chat(gateway.url, key, model)
                    log.append(
                        (
                            started,
                            time.monotonic(),
                            index,
                            answer.status_code,
                            answer.headers.get("Retry-After"),
                        )
                    )
                time.sleep(0.02)

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        time.sleep(1.0)
        killed = time.monotonic()
        server.kill()
        time.sleep(2.0)
        restarted = time.monotonic()
        server.start()
        # Recovery: within a few seconds the closed instance answers 200 again by itself.
        deadline = time.monotonic() + 10
        recovered = None
        while recovered is None and time.monotonic() < deadline:
            time.sleep(0.1)
            recovered = next(
                (
                    started
                    for started, _, index, status, _ in list(log)
                    if started > restarted and index == 0 and status == 200
                ),
                None,
            )
        time.sleep(1.0)
        stop.set()
        worker.join(20)

    assert recovered is not None, log
    # Each call is classed by its whole interval, so a slow call on a busy machine that
    # straddles the kill or the restart is in no class.
    before = [entry for entry in log if entry[1] < killed]
    down = [entry for entry in log if killed < entry[0] and entry[1] < restarted]
    after = [entry for entry in log if entry[0] > recovered]
    assert before and down and after, log
    assert {status for _, _, _, status, _ in before} == {200}, before
    # Down: the closed instance refuses every call with 503 and Retry-After; the open one
    # serves them uncounted. Nothing else (no 500, no hang).
    assert {(index, status) for _, _, index, status, _ in down} == {(0, 503), (1, 200)}, down
    assert all(retry == "1" for _, _, index, _, retry in down if index == 0), down
    # Back, with no restart: both count again.
    assert {status for _, _, _, status, _ in after} == {200}, after


@pytest.fixture(scope="module")
def leased(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, redis.Redis]]:
    """``counted``, with leases on (the default)."""
    data: Path = tmp_path_factory.mktemp("leased")
    with RedisProcess() as server, Gateway(database, data, redis_url=server.url) as gateway:
        client = redis.Redis.from_url(server.url)
        try:
            yield gateway, client
        finally:
            client.close()


def test_calls_far_from_their_limits_run_no_script(
    leased: tuple[Gateway, redis.Redis], upstream: FakeOpenAI
) -> None:
    """Key and channel far from their limits (requests, tokens, calls in flight): after the
    first two calls, calls (whole answers and streams) run no script at all; once idle,
    the counters hold what was used."""
    gateway, client = leased
    admin = Admin(gateway.url, gateway.admin_key)
    model = unique_model("far")
    limits = {"rpm": 10_000, "tpm": 10**7, "max_concurrency": 1000}
    channel = serve(admin, upstream, model, **limits)
    token = admin.create_token(**limits)
    clear_of_minute_edge()

    def call() -> int:
        answer = chat(gateway.url, token["key"], model)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit-requests"] == "10000"
        used: int = answer.json()["usage"]["total_tokens"]
        return used

    def streamed() -> int:
        body = {"model": model, "messages": HI, "stream": True}
        body["stream_options"] = {"include_usage": True}
        with httpx.stream(
            "POST",
            gateway.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {token['key']}"},
            timeout=20,
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers["x-ratelimit-limit-requests"] == "10000"
            events = [line[6:] for line in answer.iter_lines() if line.startswith("data: {")]
        used: int = json.loads(events[-1])["usage"]["total_tokens"]
        return used

    # A first call is counted alone; the second, with a call lately, brings grants.
    tokens = call() + call()
    time.sleep(0.1)
    before = scripts_run(client)
    tokens += sum(call() for _ in range(5)) + sum(streamed() for _ in range(3))
    time.sleep(0.1)
    assert scripts_run(client) == before
    assert counter_sum(client, f"k:{token['id']}:rpm:*") > 10  # the grant is counted
    deadline = time.monotonic() + 10
    while counter_sum(client, f"k:{token['id']}:rpm:*") != 10:  # idle: the grants go back
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for scope in (f"k:{token['id']}", f"c:{channel['id']}"):
        assert counter_sum(client, scope + ":rpm:*") == 10
        assert counter_sum(client, scope + ":tpm:*") == tokens
        assert counter_sum(client, scope + ":cc") == 0
