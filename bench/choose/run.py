"""Measure candidate pass-through proxies (server + upstream client) on loopback.

Usage (from the repo root, in a venv with aiohttp uvloop uvicorn[standard] granian httpx orjson,
and wrk + taskset on PATH):

    python bench/choose/run.py [--duration 10] [--only aiohttp+aiohttp,granian+aiohttp]

Pinning: proxy on CPU 0; fake upstream, wrk and the latency client on CPU 1.
Writes results.json next to this file and prints a markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent
UP_PORT = 18000
PX_PORT = 18080
UP_URL = f"http://127.0.0.1:{UP_PORT}/v1/chat/completions"
PATH = "/v1/chat/completions"
PROXY_CPU = "0"
LOAD_CPU = "1"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Candidate:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def candidates() -> list[Candidate]:
    asgi_env = {"BENCH_UPSTREAM": UP_URL, "PYTHONPATH": str(HERE)}
    uvicorn = [
        str(BIN / "uvicorn"),
        "asgi_app:app",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(PX_PORT),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "1024",
        "--lifespan",
        "on",
    ]
    granian = [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--no-ws",
        "--runtime-threads",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(PX_PORT),
        "--log-level",
        "warning",
        "--backlog",
        "1024",
        "--working-dir",
        str(HERE),
        "asgi_app:app",
    ]
    aio = [PY, str(HERE / "aiohttp_server.py"), "--port", str(PX_PORT), "--upstream", UP_URL]
    return [
        Candidate("aiohttp.web + aiohttp", [*aio, "--client", "aiohttp"]),
        Candidate("uvicorn(httptools) + aiohttp", uvicorn, {**asgi_env, "BENCH_CLIENT": "aiohttp"}),
        Candidate("granian + aiohttp", granian, {**asgi_env, "BENCH_CLIENT": "aiohttp"}),
        Candidate("aiohttp.web + httpx", [*aio, "--client", "httpx"]),
        Candidate("uvicorn(httptools) + httpx", uvicorn, {**asgi_env, "BENCH_CLIENT": "httpx"}),
    ]


def start(
    argv: list[str], cpu: str, env: dict[str, str] | None = None, log: str = "upstream"
) -> subprocess.Popen[bytes]:
    """Start a pinned server; its output goes to /tmp/airelay-bench-<log>.log."""
    out = open(f"/tmp/airelay-bench-{re.sub(r'[^a-z0-9]+', '-', log.lower())}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        ["taskset", "-c", cpu, *argv],
        env={**os.environ, **(env or {})},
        cwd=HERE,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def tree(pid: int) -> list[int]:
    """pid and all its descendants (granian runs a supervisor + a worker process)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    return total / TICK


def rss_mib(pids: list[int]) -> float:
    kb = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def fetch(port: int, body: bytes) -> tuple[int, str, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = (r.status, r.getheader("Content-Type", ""), r.read())
    c.close()
    return out


def verify(port: int) -> None:
    for body in (b'{"model":"m","messages":[]}', b'{"model":"m","messages":[],"stream":true}'):
        want, got = fetch(UP_PORT, body), fetch(port, body)
        if want != got:
            raise RuntimeError(f"proxy response differs from upstream: {got[:2]} vs {want[:2]}")


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(s: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", s)
    assert m, s
    return float(m[1]) * _UNIT[m[2]]


def wrk(script: str, port: int, conns: int, seconds: int, cpu: str = LOAD_CPU) -> dict[str, Any]:
    cmd = [
        "taskset",
        "-c",
        cpu,
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(HERE / script),
        f"http://127.0.0.1:{port}{PATH}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "requests": int(re.search(r"(\d+) requests in", out)[1]),  # type: ignore[index]
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "errors": errors + (int(non2xx[1]) if non2xx else 0),
    }


def latency_c1(port: int, n: int) -> dict[str, float]:
    cmd = [
        "taskset",
        "-c",
        LOAD_CPU,
        PY,
        str(HERE / "latency.py"),
        f"http://127.0.0.1:{port}{PATH}",
        "-n",
        str(n),
    ]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)  # type: ignore[no-any-return]


def loaded(pids: list[int], script: str, secs: int) -> dict[str, Any]:
    wrk(script, PX_PORT, 32, 2)  # warm-up
    c0, t0 = cpu_seconds(pids), time.monotonic()
    r = wrk(script, PX_PORT, 32, secs)
    cpu, wall = cpu_seconds(pids) - c0, time.monotonic() - t0
    r["cpu_us_per_req"] = round(cpu / r["requests"] * 1e6, 1)
    r["cpu_util"] = round(cpu / wall, 2)
    return r


def bench(c: Candidate, secs: int, n: int, base_p50: float) -> dict[str, Any]:
    p = start(c.argv, PROXY_CPU, c.env, log=c.name)
    try:
        wait_port(PX_PORT)
        time.sleep(1.5)
        pids = tree(p.pid)  # taskset execs, so p.pid is the server itself
        res: dict[str, Any] = {"name": c.name, "procs": len(pids), "idle_rss_mib": rss_mib(pids)}
        verify(PX_PORT)
        res["plain"] = loaded(pids, "post.lua", secs)
        res["stream"] = loaded(pids, "stream.lua", secs)
        lat = latency_c1(PX_PORT, n)
        res["c1"] = {**lat, "added_p50_us": round(lat["p50_us"] - base_p50, 1)}
        res["loaded_rss_mib"] = rss_mib(pids)
        return res
    finally:
        stop(p)
        time.sleep(0.5)


def table(base: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    head = (
        "| candidate | plain req/s c32 | p50 / p99 ms | stream req/s c32 | stream p50 / p99 ms"
        " | c1 p50 µs (added) | CPU µs/req plain / stream | proxy CPU util | idle RSS MiB |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    b = base
    lines = [
        f"| upstream direct (no proxy) | {b['plain']['rps']:.0f} | "
        f"{b['plain']['p50_ms']:.2f} / {b['plain']['p99_ms']:.2f} | "
        f"{b['stream']['rps']:.0f} | "
        f"{b['stream']['p50_ms']:.2f} / {b['stream']['p99_ms']:.2f} | "
        f"{b['c1']['p50_us']:.0f} (0) | - | - | - |"
    ]
    for r in rows:
        pl, st = r["plain"], r["stream"]
        lines.append(
            f"| {r['name']} | {pl['rps']:.0f} | {pl['p50_ms']:.2f} / {pl['p99_ms']:.2f} | "
            f"{st['rps']:.0f} | {st['p50_ms']:.2f} / {st['p99_ms']:.2f} | "
            f"{r['c1']['p50_us']:.0f} (+{r['c1']['added_p50_us']:.0f}) | "
            f"{pl['cpu_us_per_req']:.0f} / {st['cpu_us_per_req']:.0f} | "
            f"{pl['cpu_util']:.2f} / {st['cpu_util']:.2f} | "
            f"{r['idle_rss_mib']:.1f} ({r['procs']} proc) |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("-n", type=int, default=2000, help="sequential requests for c1 latency")
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    args = ap.parse_args()
    chosen = [c for c in candidates() if not args.only or c.name in args.only.split(",")]
    up = start([PY, str(HERE / "upstream.py"), "--port", str(UP_PORT)], LOAD_CPU)
    try:
        wait_port(UP_PORT)
        base: dict[str, Any] = {
            # direct baseline: wrk on the other core so the upstream's own ceiling shows
            "plain": wrk("post.lua", UP_PORT, 32, args.duration, cpu=PROXY_CPU),
            "stream": wrk("stream.lua", UP_PORT, 32, args.duration, cpu=PROXY_CPU),
            "c1": latency_c1(UP_PORT, args.n),
        }
        print("upstream direct:", json.dumps(base), flush=True)
        rows = []
        for c in chosen:
            r = bench(c, args.duration, args.n, base["c1"]["p50_us"])
            print(json.dumps(r), flush=True)
            rows.append(r)
    finally:
        stop(up)
    (HERE / "results.json").write_text(json.dumps({"upstream": base, "candidates": rows}, indent=1))
    print()
    print(table(base, rows))


if __name__ == "__main__":
    main()
