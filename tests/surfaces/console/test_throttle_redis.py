"""Failed sign-ins counted in Redis (``AIRELAY_REDIS_URL``): two gateway instances on one
database and one Redis share each account's and each address's count, so an attacker who
spreads guesses over the instances gets no more of them; and with Redis out of reach,
``AIRELAY_LIMITS_REDIS_FAILURE`` decides, as for the rate limits: ``closed`` refuses
sign-ins with 503 and ``Retry-After``, ``open`` counts in-process (each instance its own)."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support.admin import Admin
from support.console import Console, new_email, open_registration
from support.gateway import Gateway
from support.redis_server import RedisProcess, require_redis
from surfaces.admin_kit import expect_error, ok


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own on the shared Redis (runs never share a count)."""
    return f"airelay-test:{uuid.uuid4().hex}:login:"


@pytest.fixture
def pair(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> Iterator[list[Gateway]]:
    redis_url = require_redis()
    data: Path = tmp_path_factory.mktemp("pair")
    settings = {"redis_url": redis_url, "login_throttle_prefix": prefix}
    with (
        Gateway(database_url, data, **settings) as first,
        Gateway(database_url, data, **settings) as second,
    ):
        admin = Admin(first.url, first.admin_key)
        open_registration(admin.http)
        admin.close()
        yield [first, second]
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert keys  # the counts were in Redis, under this prefix
        client.delete(*keys)


def test_two_instances_share_one_count(pair: list[Gateway]) -> None:
    first, second = pair
    email = new_email()
    ok(Console(first.url).sign_up(email), 201)
    for gateway in (first, second, first, second, first):
        expect_error(Console(gateway.url).sign_in(email, "guess guess"), 401)
    for gateway in (first, second):
        throttled = Console(gateway.url).sign_in(email)  # the right password, too
        expect_error(throttled, 429)
        assert 1 <= int(throttled.headers["Retry-After"]) <= 900
    # Another account is not throttled, on either instance; a success clears its count.
    other = new_email()
    ok(Console(second.url).sign_up(other), 201)
    for _ in range(4):
        expect_error(Console(first.url).sign_in(other, "guess guess"), 401)
    ok(Console(second.url).sign_in(other))
    for _ in range(4):
        expect_error(Console(first.url).sign_in(other, "guess guess"), 401)
    ok(Console(second.url).sign_in(other))


def test_a_burst_of_guesses_at_once_gets_five(pair: list[Gateway]) -> None:
    """Guesses sent all at once, over both instances: each is counted before its password
    is checked, so no more than the limit get an answer other than 429."""
    first, second = pair
    email = new_email()
    ok(Console(first.url).sign_up(email), 201)

    def guess(index: int) -> int:
        gateway = (first, second)[index % 2]
        return Console(gateway.url).sign_in(email, f"guess {index}").status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(16)))
    assert sorted(statuses) == [401] * 5 + [429] * 11


def test_redis_out_of_reach(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> None:
    data: Path = tmp_path_factory.mktemp("own-redis")
    with RedisProcess() as server:
        settings = {"redis_url": server.url, "login_throttle_prefix": prefix}
        with (
            Gateway(database_url, data, **settings) as closed,
            Gateway(database_url, data, limits_redis_failure="open", **settings) as open_,
        ):
            admin = Admin(closed.url, closed.admin_key)
            open_registration(admin.http)
            admin.close()
            email = new_email()
            ok(Console(closed.url).sign_up(email), 201)
            ok(Console(closed.url).sign_in(email))
            server.kill()
            refused = Console(closed.url).sign_in(email)
            assert "try again" in expect_error(refused, 503)
            assert int(refused.headers["Retry-After"]) >= 1
            # Open: the instance's own count stands in, and still throttles.
            ok(Console(open_.url).sign_in(email))
            for _ in range(5):
                expect_error(Console(open_.url).sign_in(email, "guess guess"), 401)
            expect_error(Console(open_.url).sign_in(email), 429)
            # Back: the closed instance counts in Redis again, with no restart.
            server.start()
            deadline = time.monotonic() + 10
            answer = Console(closed.url).sign_in(email)
            while answer.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.2)  # Redis is tried again a second after it failed
                answer = Console(closed.url).sign_in(email)
            ok(answer)
