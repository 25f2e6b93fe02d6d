"""What session affinity adds to a call: reading the conversation's key (per kind of key),
the in-process lookup, a Redis read for a session this instance has not seen, and the
memory of the in-process bindings at their bound.

    .venv/bin/python bench/affinity.py [--redis redis://127.0.0.1:6379/15]

Prints one line per figure (median of 5 runs); nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import uvloop
from multidict import CIMultiDict

from airelay.formats.names import WireFormat
from airelay.formats.session import session_key
from airelay.relay.affinity import MAX_SESSIONS, Affinity, Binding, open_session, session_id
from airelay.store.redis_scripts import open_scripts

# About the size of a coding agent's system prompt (15-20 kB) and a first turn with context.
SYSTEM = "You are a coding agent. Follow the rules below carefully. " * 350
FIRST = "Here is the repository layout and my request: fix the failing test. " * 40


def per_call_us(work: Callable[[], object], n: int = 20_000) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            work()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def keys() -> None:
    chat: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": FIRST}]
        + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "next"}] * 20,
    }
    stated = {**chat, "prompt_cache_key": str(uuid.uuid4())}
    anthropic = {
        "model": "m",
        "max_tokens": 100,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": FIRST}]}],
    }
    header = CIMultiDict({"x-claude-code-session-id": str(uuid.uuid4())})
    none: dict[str, str] = {}
    print(f"system prompt {len(SYSTEM)} B, first message {len(FIRST)} B")
    cases = [
        ("key: prompt_cache_key", lambda: session_key(WireFormat.OPENAI, stated, none)),
        ("key: session header", lambda: session_key(WireFormat.ANTHROPIC, anthropic, header)),
        ("key: prefix hash (chat)", lambda: session_key(WireFormat.OPENAI, chat, none)),
        (
            "key: prefix hash (anthropic)",
            lambda: session_key(WireFormat.ANTHROPIC, anthropic, none),
        ),
        ("scope: session_id(user, model, key)", lambda: session_id("usr_1", "m", "k:abc")),
    ]
    for name, work in cases:
        print(f"{name:40s} {per_call_us(work, 5_000 if 'prefix' in name else 50_000):8.2f} µs")


async def lookups(redis_url: str | None) -> None:
    affinity = Affinity(3600)
    users = [f"usr_{n}" for n in range(1000)]
    for user in users:
        (await open_session(affinity, user, "m", "k:s")).served(_channel(), "k0")
    loop_runs = []
    for _ in range(5):
        started = time.perf_counter()
        for user in users * 20:
            await open_session(affinity, user, "m", "k:s")
        loop_runs.append((time.perf_counter() - started) / 20_000 * 1e6)
    print(f"{'in-process hit (open_session)':40s} {statistics.median(loop_runs):8.2f} µs")
    if redis_url is None:
        return
    shared = Affinity(3600, redis=open_scripts(redis_url))
    try:
        miss_runs = []
        for _ in range(5):
            sessions = [session_id(uuid.uuid4().hex, "m", "k:s") for _ in range(2000)]
            started = time.perf_counter()
            for session in sessions:
                await shared.fetch(session)
            miss_runs.append((time.perf_counter() - started) / len(sessions) * 1e6)
        print(f"{'Redis read, unseen session (GET)':40s} {statistics.median(miss_runs):8.2f} µs")
    finally:
        await shared.close()


def memory() -> None:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    affinity = Affinity(3600)
    channel_ids = [f"ch_{n:024x}" for n in range(20)]  # a channel id is shared, not copied
    for n in range(MAX_SESSIONS):
        affinity.bind(session_id(f"usr_{n}", "m", f"k:{n}"), Binding(channel_ids[n % 20], n % 3))
    after = tracemalloc.take_snapshot()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    tracemalloc.stop()
    each = size / MAX_SESSIONS
    print(f"{MAX_SESSIONS} bindings in-process: {size / 2**20:.1f} MiB ({each:.0f} B each)")


def _channel() -> Any:
    from airelay.store.snapshot import ChannelRecord

    return ChannelRecord(
        id="ch",
        name="ch",
        type="openai",
        base_url="http://x/v1",
        api_keys=("k0", "k1"),
        models=frozenset({"m"}),
        model_mapping={},
        priority=1,
        weight=1,
        status="active",
        timeout=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default=None, help="a Redis URL for the shared read")
    args = parser.parse_args()
    keys()
    uvloop.run(lookups(args.redis))
    memory()


if __name__ == "__main__":
    main()
