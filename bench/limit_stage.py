"""What the limit stage costs in-process per call, with the rules ``make bench --limits``
sets (eleven counters: the key's RPM, TPM, RPD and calls in flight, its group's RPM and
calls in flight, its model's TPM and calls in flight; the channel's RPM, TPM and calls in
flight), all far from their limits: a call's ``acquire``, its channel's lease, and both
ends, as the relay makes them.

    .venv/bin/python bench/limit_stage.py [--calls 20000] [--redis-url redis://127.0.0.1:6379/0]

Prints the best of 5 runs in µs per call, for the counters in Redis with leases (the
default: the calls take from this instance's grants), then for the in-process counters.
``--opcodes``: the Python bytecodes a call runs instead, counted with ``sys.settrace``
over ``--calls`` calls (a figure the machine's load does not move; run the script with
``PYTHONPATH`` at another checkout's ``src`` to compare two versions).
Calls yield to the event loop every 32 calls, as a c32 load's ends would (the ends of one
turn go to Redis together). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from types import FrameType

import uvloop

from airelay.relay.limits import RateLimits, open_limits
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot

NEVER = 2_000_000_000  # as ``bench/gateway.py`` sets them: no load reaches them
MANY = 1_000_000
MODEL = "gpt-4o-mini"
BODY_BYTES = 120  # a short chat request


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="per run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--opcodes", action="store_true", help="count bytecodes instead")
    return parser.parse_args()


def snapshot() -> Snapshot:
    rate_limits = {
        "requests_per_minute": NEVER,
        "tokens_per_minute": NEVER,
        "requests_per_day": NEVER,
        "max_concurrency": MANY,
        "groups": {"default": {"requests_per_minute": NEVER, "max_concurrency": MANY}},
        "models": {MODEL: {"tokens_per_minute": NEVER, "max_concurrency": MANY}},
    }
    return Snapshot(
        keys={},
        admin_hashes=frozenset(),
        channels=(),
        routes={},
        endpoint_routes={},
        known_models=frozenset(),
        catalog={},
        prices={},
        group_multipliers={},
        rate_limits=rate_limits,
    )


def key() -> KeyRecord:
    # Fresh ids each run: the counters in Redis start empty.
    return KeyRecord(
        id="tok_bench" + uuid.uuid4().hex,
        key_hash="",
        user_id="usr_bench" + uuid.uuid4().hex,
        name="bench",
        status="active",
        user_status="active",
        user_group="default",
        expires_at=None,
        permissions=frozenset({"chat"}),
        models=None,
        ip_networks=None,
        quota=None,
        rpm=None,
        tpm=None,
        max_concurrency=MANY,
    )


def channel() -> ChannelRecord:
    return ChannelRecord(
        id="ch_bench" + uuid.uuid4().hex,
        name="bench",
        type="openai",
        base_url="http://127.0.0.1:1/v1",
        api_keys=("sk-bench",),
        models=frozenset({MODEL}),
        model_mapping={},
        priority=0,
        weight=1,
        status="active",
        timeout=None,
        rpm=NEVER,
        tpm=NEVER,
        max_concurrency=MANY,
    )


async def per_call(stage: RateLimits, calls: int, opcodes: bool = False) -> float:
    """The best of 5 runs of ``calls`` calls, in µs per call (``opcodes``: one run, in
    bytecodes per call)."""
    found, record, upstream = snapshot(), key(), channel()

    async def one() -> None:
        lease = await stage.acquire(found, record, MODEL, BODY_BYTES, defer=True)
        stage.prefetch(lease, upstream)
        channel_lease = await stage.admit_channel(upstream, BODY_BYTES, lease)
        await stage.confirm(lease)
        assert channel_lease is not None
        channel_lease.settle(69)  # the bench's calls: 69 tokens, prompt and answer
        lease.settle(69)

    for _ in range(3_000):  # the grants in, their sizes learned
        await one()
        await asyncio.sleep(0)
    if opcodes:
        counted = [0]

        def trace(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            if event == "opcode":
                counted[0] += 1
            return trace

        sys.settrace(trace)
        for i in range(calls):
            await one()
            if i % 32 == 31:
                await asyncio.sleep(0)
        sys.settrace(None)
        return counted[0] / calls
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for i in range(calls):
            await one()
            if i % 32 == 31:
                await asyncio.sleep(0)
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


async def main() -> None:
    args = parse()
    for name, url in (("Redis, leased", args.redis_url), ("in-process", None)):
        stage = open_limits(url)
        try:
            figure = await per_call(stage, args.calls, args.opcodes)
            unit = "bytecodes" if args.opcodes else "µs"
            print(f"{name}: {figure:.2f} {unit} per call", flush=True)
        finally:
            await stage.close()


if __name__ == "__main__":
    uvloop.run(main())
