"""asyncio (aiohttp) clients for what wrk cannot measure: latency at concurrency 1, time to
the first streamed byte, many streams held open, and a paced soak. Each call is bounded in
requests and in time."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson
from wrk import CHAT_PATH, KINDS, MESSAGES, PLAIN_BODY, STREAM_BODY

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
CONTENT_CHUNKS = 20


@dataclass(frozen=True, slots=True)
class Quantiles:
    n: int
    p50_ms: float
    p99_ms: float
    # The median over the rounds of each round's p99: a burst of noise on the machine
    # during one round moves the pooled p99 of whichever target ran then, not this.
    p99_rounds_ms: float | None = None


def quantiles(samples: list[float], rounds: list[list[float]] | None = None) -> Quantiles:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    typical = None
    if rounds and all(len(r) >= 2 for r in rounds):
        per_round = [statistics.quantiles(r, n=100, method="inclusive")[98] for r in rounds]
        typical = statistics.median(per_round) * 1e3
    return Quantiles(len(samples), q[49] * 1e3, q[98] * 1e3, typical)


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}{CHAT_PATH}"


def _headers(api_key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}


def check_stream(body: bytes) -> None:
    """The client-visible stream: the 20 chunks, no usage chunk (not asked for), [DONE]."""
    events = [e for e in body.split(b"\n\n") if e.startswith(b"data: ")]
    if events[-1:] != [b"data: [DONE]"] or len(events) != CONTENT_CHUNKS + 1:
        raise RuntimeError(f"unexpected stream ({len(events)} events): {body[-300:]!r}")


async def verify(port: int, api_key: str) -> None:
    """One plain and one streamed call must succeed with the fake upstream's answer."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.post(_url(port), data=PLAIN_BODY, headers=_headers(api_key)) as r:
            body = await r.read()
            if r.status != 200 or "usage" not in orjson.loads(body):
                raise RuntimeError(f"plain call failed: {r.status} {body[:300]!r}")
        async with s.post(_url(port), data=STREAM_BODY, headers=_headers(api_key)) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"stream call failed: {r.status} {body[:300]!r}")
            check_stream(body)


async def verify_translated(port: int, api_key: str) -> None:
    """One streamed call on each translated path must end as its client's format ends a
    stream (OpenAI: ``[DONE]``; Anthropic: ``message_stop``; Responses:
    ``response.completed``) with the fake's text in it."""
    ends = {
        "openai-to-anthropic": b"data: [DONE]",
        "anthropic-to-openai": b"message_stop",
        "responses-to-openai": b"event: response.completed",
    }
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        for kind, end in ends.items():
            path, body, extra = KINDS[kind]
            url = f"http://127.0.0.1:{port}{path}"
            async with s.post(url, data=body, headers={**_headers(api_key), **extra}) as r:
                answer = await r.read()
                if r.status != 200 or end not in answer or b"tok18" not in answer:
                    raise RuntimeError(f"{kind} stream failed: {r.status} {answer[-300:]!r}")


@dataclass(frozen=True, slots=True)
class Latency:
    c1: Quantiles  # non-streaming call, whole answer
    ttfb: Quantiles  # stream, first body byte


async def _c1_batch(s: aiohttp.ClientSession, port: int, api_key: str, n: int) -> list[float]:
    samples = []
    url, headers = _url(port), _headers(api_key)
    for _ in range(n):
        t0 = time.perf_counter()
        async with s.post(url, data=PLAIN_BODY, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"c1 call answered {r.status}")
        samples.append(time.perf_counter() - t0)
    return samples


async def _ttfb_batch(s: aiohttp.ClientSession, port: int, api_key: str, n: int) -> list[float]:
    samples = []
    url, headers = _url(port), _headers(api_key)
    for _ in range(n):
        t0 = time.perf_counter()
        async with s.post(url, data=STREAM_BODY, headers=headers) as r:
            first = await r.content.readany()
            samples.append(time.perf_counter() - t0)
            rest = await r.read()
            if r.status != 200:
                raise RuntimeError(f"stream answered {r.status}")
        check_stream(first + rest)
    return samples


async def latencies(
    targets: list[tuple[int, str]], c1_calls: int, streams: int, rounds: int, warmup: int
) -> list[Latency]:
    """Concurrency 1 for each (port, key): ``c1_calls`` sequential calls and ``streams``
    sequential streams on one keep-alive connection, the targets taking turns in ``rounds``
    so that noise from elsewhere on the machine falls on all of them alike."""
    c1: list[list[list[float]]] = [[] for _ in targets]  # per target, per round
    ttfb: list[list[float]] = [[] for _ in targets]
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=TIMEOUT)
        for _ in targets
    ]
    try:
        for s, (port, key) in zip(sessions, targets, strict=True):
            await _c1_batch(s, port, key, warmup)
            await _ttfb_batch(s, port, key, warmup // 4)
        for _ in range(rounds):
            for i, (s, (port, key)) in enumerate(zip(sessions, targets, strict=True)):
                c1[i].append(await _c1_batch(s, port, key, c1_calls // rounds))
                ttfb[i] += await _ttfb_batch(s, port, key, streams // rounds)
    finally:
        for s in sessions:
            await s.close()
    return [
        Latency(quantiles([x for r in a for x in r], a), quantiles(b))
        for a, b in zip(c1, ttfb, strict=True)
    ]


async def hold_streams(
    port: int, api_key: str, n: int, model: str, settle: float, sample: Callable[[], float]
) -> tuple[int, float]:
    """Open ``n`` slow streams at once; once every one has its first chunk (or after 60 s),
    wait ``settle`` seconds and return (streams open, ``sample()``); then close them all."""
    body = orjson.dumps({"model": model, "messages": MESSAGES, "stream": True})
    opened = 0
    all_open = asyncio.Event()
    release = asyncio.Event()

    async def one(s: aiohttp.ClientSession) -> None:
        nonlocal opened
        async with s.post(_url(port), data=body, headers=_headers(api_key)) as r:
            if r.status != 200:
                raise RuntimeError(f"slow stream answered {r.status}: {await r.read()!r}")
            await r.content.readany()
            opened += 1
            if opened == n:
                all_open.set()
            await release.wait()
            r.close()

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        tasks = [asyncio.create_task(one(s)) for _ in range(n)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_open.wait(), 60)
        await asyncio.sleep(settle)
        value = sample()
        release.set()
        await asyncio.wait(tasks, timeout=30)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return opened, value


async def soak(
    port: int,
    api_key: str,
    seconds: float,
    rate: float,
    every: float,
    sample: Callable[[], float],
    log: Callable[[str], None],
) -> tuple[list[tuple[float, float]], int, int]:
    """Paced load for ``seconds``: ``rate`` calls a second (one in four streamed), at most 64
    in flight; ``sample()`` every ``every`` seconds. Returns (samples, ok calls, failed)."""
    url, headers = _url(port), _headers(api_key)
    ok = failed = 0
    limit = asyncio.Semaphore(64)
    samples: list[tuple[float, float]] = []

    async def call(s: aiohttp.ClientSession, body: bytes) -> None:
        nonlocal ok, failed
        try:
            async with s.post(url, data=body, headers=headers) as r:
                await r.read()
                ok, failed = (ok + 1, failed) if r.status == 200 else (ok, failed + 1)
        except (aiohttp.ClientError, TimeoutError):
            failed += 1
        finally:
            limit.release()

    async def sampler(t0: float) -> None:
        for k in range(int(seconds // every) + 1):
            await asyncio.sleep(max(0.0, t0 + k * every - time.monotonic()))
            value = sample()
            samples.append((time.monotonic() - t0, value))
            log(f"  soak t={samples[-1][0]:5.0f}s rss={value:.1f} MiB ok={ok} failed={failed}")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as s:
        t0 = time.monotonic()
        watcher = asyncio.create_task(sampler(t0))
        pending: set[asyncio.Task[None]] = set()
        for i in range(int(seconds * rate)):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await limit.acquire()
            task = asyncio.create_task(call(s, STREAM_BODY if i % 4 == 3 else PLAIN_BODY))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=30)
        await asyncio.wait_for(watcher, timeout=every + 5)
    return samples, ok, failed
