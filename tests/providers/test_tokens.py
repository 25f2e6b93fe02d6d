"""The per-key token cache: a key's first call waits for its token (``CredentialPending``,
shared by the calls that come meanwhile), later calls read it; past 80 % of its life a call
starts a refresh in the background and still gets the current token; a failed fetch is a
``CredentialError`` for the waiting calls, and a background one keeps the old token. A token
is kept per key and egress: channels that share a key and their way out share its token,
one with another way out fetches its own, through that way."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airelay.providers.base import CredentialError, CredentialPending, Egress, built
from airelay.providers.tokens import RETRY_SECONDS, Token, Tokens
from airelay.transport.egress import Reply


class Way:
    """An egress named ``name``: equal ways are the same way out."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Way) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    async def post(self, url: str, body: bytes, fields: object) -> Reply:
        raise AssertionError("the fetcher makes no request")


EGRESS = Way("direct")


class Fetcher:
    """Tokens ``t1``, ``t2``... living ``life`` seconds; ``gate`` holds a fetch until set."""

    def __init__(self, life: float = 100.0) -> None:
        self.life = life
        self.calls = 0
        self.fail: str | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.ways: list[Egress] = []  # the egress of each fetch

    async def __call__(self, key: str, egress: Egress) -> Token:
        self.ways.append(egress)
        return await asyncio.to_thread(self._blocking, key)

    def _blocking(self, key: str) -> Token:
        self.gate.wait(10)
        self.calls += 1
        if self.fail is not None:
            raise CredentialError(self.fail)
        return Token(f"Bearer {key}-t{self.calls}", self.life)


def _cache(fetch: Fetcher) -> tuple[Tokens, list[float]]:
    now = [1000.0]
    return Tokens(fetch, clock=lambda: now[0]), now


async def _header(tokens: Tokens, key: str, egress: Egress = EGRESS) -> str:
    """A call as the relay makes it: read, or wait once and read."""
    try:
        return tokens.header(key, egress)
    except CredentialPending as pending:
        await pending.ready
    return tokens.header(key, egress)


def test_the_first_call_waits_and_later_calls_read_the_cache() -> None:
    fetch = Fetcher()
    tokens, _ = _cache(fetch)

    async def run() -> list[str]:
        return [await _header(tokens, "k") for _ in range(3)]

    assert asyncio.run(run()) == ["Bearer k-t1"] * 3
    assert fetch.calls == 1 and tokens.waits == 1


def test_calls_that_come_while_a_token_is_fetched_share_the_fetch() -> None:
    fetch = Fetcher()
    fetch.gate.clear()
    tokens, _ = _cache(fetch)

    async def run() -> list[str]:
        calls = [asyncio.ensure_future(_header(tokens, "k")) for _ in range(5)]
        await asyncio.sleep(0)
        fetch.gate.set()
        return list(await asyncio.gather(*calls))

    assert asyncio.run(run()) == ["Bearer k-t1"] * 5
    assert fetch.calls == 1


def test_keys_have_tokens_of_their_own() -> None:
    fetch = Fetcher()
    tokens, _ = _cache(fetch)

    async def run() -> list[str]:
        return [await _header(tokens, "a"), await _header(tokens, "b"), await _header(tokens, "a")]

    assert asyncio.run(run()) == ["Bearer a-t1", "Bearer b-t2", "Bearer a-t1"]


def test_a_key_has_a_token_per_way_out_and_equal_ways_share_it() -> None:
    fetch = Fetcher()
    tokens, _ = _cache(fetch)
    proxied = Way("proxy")

    async def run() -> list[str]:
        return [
            await _header(tokens, "k"),
            await _header(tokens, "k", Way("direct")),  # an equal way: the same token
            await _header(tokens, "k", proxied),
            await _header(tokens, "k", proxied),
        ]

    assert asyncio.run(run()) == ["Bearer k-t1", "Bearer k-t1", "Bearer k-t2", "Bearer k-t2"]
    assert fetch.ways == [EGRESS, proxied]  # each fetched through its own way


def test_past_eighty_percent_a_refresh_starts_and_the_call_does_not_wait() -> None:
    fetch = Fetcher(life=100)
    tokens, now = _cache(fetch)

    async def run() -> None:
        assert await _header(tokens, "k") == "Bearer k-t1"
        now[0] += 79
        assert tokens.header("k", EGRESS) == "Bearer k-t1"
        await asyncio.sleep(0.05)
        assert fetch.calls == 1  # not yet
        now[0] += 2  # 81 % of its life
        assert tokens.header("k", EGRESS) == "Bearer k-t1"  # no exception: served at once
        assert tokens.header("k", EGRESS) == "Bearer k-t1"  # one refresh, not two
        for _ in range(200):
            if fetch.calls == 2 and tokens.header("k", EGRESS) == "Bearer k-t2":
                break
            await asyncio.sleep(0.01)
        assert tokens.header("k", EGRESS) == "Bearer k-t2"

    asyncio.run(run())
    assert fetch.calls == 2 and tokens.waits == 1


def test_a_token_is_not_used_in_the_last_part_of_its_life() -> None:
    fetch = Fetcher(life=100)
    tokens, now = _cache(fetch)

    async def run() -> None:
        await _header(tokens, "k")
        now[0] += 91  # past its last 10 %: a request could arrive after it expired
        with pytest.raises(CredentialPending) as pending:
            tokens.header("k", EGRESS)
        await pending.value.ready
        assert tokens.header("k", EGRESS) == "Bearer k-t2"

    asyncio.run(run())


def test_a_failed_fetch_fails_the_waiting_calls_and_the_next_call_tries_again() -> None:
    fetch = Fetcher()
    fetch.fail = "the token endpoint answered HTTP 401 (invalid_client)"
    tokens, _ = _cache(fetch)

    async def run() -> str:
        with pytest.raises(CredentialError, match="invalid_client"):
            await _header(tokens, "k")
        fetch.fail = None
        return await _header(tokens, "k")

    assert asyncio.run(run()) == "Bearer k-t2"


def test_a_failed_background_refresh_keeps_the_token_and_retries_later() -> None:
    fetch = Fetcher(life=1000)  # refreshed from 800 s, used until 940 s
    tokens, now = _cache(fetch)

    async def run() -> None:
        await _header(tokens, "k")
        fetch.fail = "the token endpoint answered HTTP 503 (temporarily_unavailable)"
        now[0] += 850
        assert tokens.header("k", EGRESS) == "Bearer k-t1"
        for _ in range(200):
            if fetch.calls == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert tokens.header("k", EGRESS) == "Bearer k-t1"  # still good; no new fetch this soon
        await asyncio.sleep(0.05)
        assert fetch.calls == 2
        fetch.fail = None
        now[0] += RETRY_SECONDS
        assert tokens.header("k", EGRESS) == "Bearer k-t1"
        for _ in range(200):
            if fetch.calls == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert tokens.header("k", EGRESS) == "Bearer k-t3"

    asyncio.run(run())


def test_an_unexpected_fetch_error_is_named_by_its_type_only() -> None:
    async def broken(key: str, egress: Egress) -> Token:
        raise ConnectionError(f"could not connect with {key}")

    tokens = Tokens(broken)

    async def run() -> None:
        with pytest.raises(CredentialError) as failed:
            await _header(tokens, "secret-key")
        assert "ConnectionError" in str(failed.value)
        assert "secret-key" not in str(failed.value)

    asyncio.run(run())


def test_a_caller_that_leaves_does_not_cancel_the_shared_fetch() -> None:
    fetch = Fetcher()
    fetch.gate.clear()
    tokens, _ = _cache(fetch)

    async def run() -> str:
        leaving = asyncio.ensure_future(built(lambda: tokens.header("k", EGRESS)))
        staying = asyncio.ensure_future(built(lambda: tokens.header("k", EGRESS)))
        await asyncio.sleep(0.01)
        leaving.cancel()
        await asyncio.sleep(0.01)
        fetch.gate.set()
        assert leaving.cancelled()
        return await staying

    assert asyncio.run(run()) == "Bearer k-t1"
    assert fetch.calls == 1
