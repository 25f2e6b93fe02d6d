"""What rate limits cost the gateway's CPU per call: three gateways on SQLite, each
configured as ``make bench --limits`` configures one (limits in every scope, never tripped)
or with none, measured in turn under the same wrk load, round after round:

- ``leases``: the counters in Redis, leased (the default);
- ``no-leases``: the counters in Redis, every call counted there (``AIRELAY_LIMITS_LEASES``
  false);
- ``none``: no limits, no Redis, no key budget.

    .venv/bin/python bench/limits.py [--rounds 6] [--seconds 3] [--kinds plain,stream]

Prints the CPU µs per call of each (the server process's utime + stime over the requests
wrk made), each round, then the minimum and median per gateway and kind. Gateway, upstream
and wrk are pinned as ``make bench`` pins them. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import gateway
import procs
import wrk
from run import AIRELAY, cores

CONFIGS = ("leases", "no-leases", "none")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=3, help="each wrk run (c32)")
    parser.add_argument("--kinds", default="plain,stream", help="wrk kinds, comma-separated")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args()


def main() -> None:
    args = parse()
    cpu = cores()
    work = Path(tempfile.mkdtemp(prefix="airelay-limits-"))
    upstream_port = procs.free_port()
    argv = [sys.executable, str(Path(__file__).parent / "upstream.py")]
    upstream = procs.start([*argv, "--port", str(upstream_port)], cpu.load, work / "up.log")
    started: dict[str, gateway.Gateway] = {}
    try:
        procs.wait_port(upstream_port, upstream)
        for name in CONFIGS:
            data = work / name
            data.mkdir()
            limits = None
            if name != "none":
                limits = gateway.Limits(args.redis_url, leases=name == "leases")
            gw = gateway.start(
                AIRELAY, f"sqlite:///{data / 'airelay.db'}", data, 1, cpu.server,
                work / f"{name}.log", limits,
            )  # fmt: skip
            started[name] = gw
            gateway.configure(gw, upstream_port, limits is not None)
        scripts = {name: wrk.scripts_in(work, name, gw.api_key)
                   for name, gw in started.items()}  # fmt: skip
        per_call: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            for kind in args.kinds.split(","):
                for name, gw in started.items():
                    before = procs.cpu_seconds(gw.pids())
                    result = wrk.run(scripts[name][kind], gw.port, 32, args.seconds, cpu.load)
                    used = procs.cpu_seconds(gw.pids()) - before
                    micros = used / max(result.requests, 1) * 1e6
                    per_call.setdefault((name, kind), []).append(micros)
                    print(f"round {round_} {kind} {name}: {result.rps:,.0f} req/s, "
                          f"{micros:.0f} µs/call", flush=True)  # fmt: skip
        for (name, kind), values in sorted(per_call.items()):
            print(f"{name} {kind}: min {min(values):.0f}, median "
                  f"{statistics.median(values):.0f} µs/call")  # fmt: skip
    finally:
        for gw in started.values():
            procs.stop(gw.proc)
        procs.stop(upstream)


if __name__ == "__main__":
    main()
