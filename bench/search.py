"""What searching a relayed stream for its marks costs, per stream: the fake upstream's
OpenAI stream (``bench/upstream.py``, 4.6 KB unchunked), searched for the four marks a
pass-through OpenAI stream looks for (``relay.passthrough``: the usage triggers, the end
mark, the error mark) and for a channel key (``relay.scrub``), with ``bytes.find`` and with
``formats.search.find``; as one block, and event by event (as a slow upstream sends it).
Then counting the block's line feeds (``framing.sse_events``), with ``bytes.count`` and
``formats.search.count``.

    .venv/bin/python bench/search.py [--streams 20000]

Prints the best of 5 runs in µs per stream for each. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import upstream
from translate import _unchunked

from airelay.formats.openai_wire import OpenAIRewriter, OpenAIWire
from airelay.formats.search import builtin_count, builtin_find, count, find
from airelay.relay.scrub import ERROR_MARK

MARKS = (*OpenAIRewriter.triggers, *OpenAIWire.end_marks, ERROR_MARK, b"sk-upstream-bench")
Search = Callable[[bytes, bytes, int], int]


def _per_stream(search: Search, blocks: list[bytes], streams: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(streams):
            for block in blocks:
                for mark in MARKS:
                    search(block, mark, 0)
        best = min(best, time.perf_counter() - started)
    return best / streams * 1e6


def _per_count(counter: Callable[[bytes, bytes], int], block: bytes, streams: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(streams):
            counter(block, b"\n")
        best = min(best, time.perf_counter() - started)
    return best / streams * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=20000)
    args = parser.parse_args()
    whole = _unchunked(upstream.stream_parts(True))
    events = [event + b"\n\n" for event in whole.split(b"\n\n") if event]
    print(f"{len(whole)} bytes, {len(events)} events, {len(MARKS)} marks")
    for shape, blocks in (("one block", [whole]), ("event by event", events)):
        for name, search in (("bytes.find", builtin_find), ("formats.search.find", find)):
            micros = _per_stream(search, blocks, args.streams)
            print(f"{shape}, {name}: {micros:.2f} µs per stream (best of 5 runs)")
    for name, counter in (("bytes.count", builtin_count), ("formats.search.count", count)):
        micros = _per_count(counter, whole, args.streams)
        print(f"line feeds of the block, {name}: {micros:.2f} µs per stream (best of 5 runs)")


if __name__ == "__main__":
    main()
