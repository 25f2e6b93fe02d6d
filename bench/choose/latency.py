"""Concurrency-1 latency: N sequential POSTs over one keep-alive aiohttp connection.

Prints one JSON line: {"n", "p50_us", "p90_us", "p99_us", "mean_us"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import aiohttp
import uvloop

BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user",'
    b'"content":"Say hello in one short sentence."}],"max_tokens":64}'
)


async def measure(url: str, n: int, warmup: int) -> list[float]:
    out: list[float] = []
    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=conn) as s:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            async with s.post(url, data=BODY, headers={"Content-Type": "application/json"}) as r:
                await r.read()
                assert r.status == 200, r.status
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()
    xs = sorted(uvloop.run(measure(args.url, args.n, args.warmup)))
    q = statistics.quantiles(xs, n=100)
    print(
        json.dumps(
            {
                "n": len(xs),
                "p50_us": round(q[49], 1),
                "p90_us": round(q[89], 1),
                "p99_us": round(q[98], 1),
                "mean_us": round(statistics.fmean(xs), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
