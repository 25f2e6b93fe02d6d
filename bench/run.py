"""The gateway's benchmark (`make bench`): the gateway against the floor (a pass-through
aiohttp proxy) and the fake upstream directly, in one run, on loopback.

    .venv/bin/python bench/run.py            # quick matrix, ~3.5 min; appends to BENCHMARKS.md
    .venv/bin/python bench/run.py --full     # every configuration measured fully
    .venv/bin/python bench/run.py --soak 600 # 10-minute soak: RSS growth at moderate load

Pinning (2+ cores): the gateway and the floor on core 0 (a 2-worker gateway on all cores);
the fake upstream, wrk and the asyncio clients (this process) on core 1. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import clients
import gateway
import procs
import report
import uvloop
import wrk
from report import Figures

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AIRELAY = Path(sys.executable).parent / "airelay"
SLOW_MODEL = gateway.SLOW_MODEL


@dataclass(frozen=True)
class Plan:
    c1_requests: int
    ttfb_streams: int
    hold_streams: int
    latency: bool = True  # c1 latency and stream TTFB
    hold: bool = True  # RSS with many streams open
    c256: bool = True
    # Each c32 run paired with the floor's: the throughput ratio then compares runs a few
    # seconds apart, not minutes (a shared machine's speed drifts).
    paired: bool = True


# Five short rounds rather than three longer ones, the order alternating between rounds: a
# burst of steal or a drift of the VM's speed then moves one round (or both sides alike),
# and the median round stands (three rounds of 4 s moved a ratio by up to 16 points).
PAIRED_ROUNDS = 5  # --rounds: more for a tighter median on a noisy machine
PAIRED_SHARE = 3  # each paired run lasts --seconds / PAIRED_SHARE


def paired_seconds(seconds: float) -> int:
    """How long each paired run lasts: whole seconds, which is what wrk takes."""
    return max(1, round(seconds / PAIRED_SHARE))


# Latency at concurrency 1 in short turns: a burst of noise on the VM (a few ms for a few
# dozen calls) then falls on every target alike instead of on one target's p99.
C1_ROUNDS = 10


@dataclass(frozen=True)
class Config:
    name: str
    database: str  # "sqlite" or "postgresql"
    workers: int
    plan: Plan


@dataclass
class Cores:
    server: str  # the gateway or floor, one process
    load: str  # upstream, wrk, clients
    every: str  # a multi-process gateway


def cores() -> Cores:
    ids = sorted(os.sched_getaffinity(0))
    if len(ids) < 2:
        print("warning: one core only, nothing is pinned apart", file=sys.stderr)
        return Cores(str(ids[0]), str(ids[0]), str(ids[0]))
    return Cores(str(ids[0]), str(ids[1]), ",".join(map(str, ids)))


def log(message: str) -> None:
    print(message, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, cpu: Cores) -> None:
        self.args = args
        self.work = work
        self.cpu = cpu
        self.upstream_port = procs.free_port()
        self.floor_port = procs.free_port()
        self.servers: list[int] = []  # pids of the upstream and floor(s) while they run
        self.scripts: dict[str, dict[str, Path]] = {}
        self.first_pairing: tuple[clients.Latency, clients.Latency] | None = None
        self.floor_pids: list[int] = []  # the one-process floor, running through the matrix

    def limits(self) -> gateway.Limits | None:
        if not self.args.limits:
            return None
        return gateway.Limits(self.args.redis_url)

    def script(self, kind: str, api_key: str) -> Path:
        if api_key not in self.scripts:
            folder = self.work / f"lua-{len(self.scripts)}"
            folder.mkdir()
            self.scripts[api_key] = wrk.write_scripts(folder, api_key)
        return self.scripts[api_key][kind]

    @contextlib.contextmanager
    def upstream(self) -> Iterator[None]:
        argv = [sys.executable, str(HERE / "upstream.py"), "--port", str(self.upstream_port)]
        proc = procs.start(argv, self.cpu.load, self.work / "upstream.log")
        self.servers.append(proc.pid)
        try:
            procs.wait_port(self.upstream_port, proc)
            yield
        finally:
            procs.stop(proc)
            self.servers.remove(proc.pid)

    @contextlib.contextmanager
    def floor(self, processes: int, port: int) -> Iterator[list[int]]:
        """The floor on ``port``: one process on the server core, or several sharing the port
        (SO_REUSEPORT) on every core."""
        url = f"http://127.0.0.1:{self.upstream_port}/v1/chat/completions"
        argv = [sys.executable, str(HERE / "floor.py"), "--port", str(port), "--upstream", url]
        if processes > 1:
            argv.append("--reuse-port")
        cpus = self.cpu.server if processes == 1 else self.cpu.every
        logfile = self.work / f"floor-{processes}.log"
        started = [procs.start(argv, cpus, logfile) for _ in range(processes)]
        pids = [p.pid for p in started]
        self.servers += pids
        try:
            for proc in started:
                procs.wait_port(port, proc)
            time.sleep(0.5)
            yield pids
        finally:
            for proc in started:
                procs.stop(proc)
            self.servers = [p for p in self.servers if p not in pids]

    def load(self, port: int, key: str, kind: str, conns: int, seconds: float) -> wrk.WrkResult:
        return wrk.run(self.script(kind, key), port, conns, seconds, self.cpu.load)

    def loaded(
        self,
        pids: Callable[[], list[int]],
        port: int,
        key: str,
        kind: str,
        conns: int,
        seconds: float | None = None,
    ) -> tuple[wrk.WrkResult, float]:
        """One wrk run, and the server's CPU time per request (µs) during it."""
        ids = pids()
        before = procs.cpu_seconds(ids)
        result = self.load(port, key, kind, conns, seconds or self.args.seconds)
        cpu = procs.cpu_seconds(ids) - before
        log(
            f"  {kind} c{conns}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms, errors {result.errors}"
        )
        return result, cpu / max(result.requests, 1) * 1e6

    def measure(
        self, fig: Figures, pids: Callable[[], list[int]], port: int, key: str, plan: Plan
    ) -> None:
        """Idle RSS after a warm-up, RSS with many streams open, throughput, and (paired
        with the upstream and the floor) latency at concurrency 1."""
        background = procs.Background(lambda: pids() + self.servers)
        fig.startup_rss = procs.rss_mib(pids())
        uvloop.run(clients.verify(port, key))
        self.load(port, key, "plain", 32, 2)  # warm-up
        self.load(port, key, "stream", 32, 1)
        time.sleep(1.5)
        fig.processes = len(pids())
        fig.idle_rss = procs.rss_mib(pids())
        log(f"  RSS at start-up {fig.startup_rss:.1f} MiB, idle after warm-up {fig.idle_rss:.1f}")
        if plan.hold:
            fig.rss_before_streams = fig.idle_rss
            fig.streams_open, fig.rss_with_streams = uvloop.run(
                clients.hold_streams(
                    port, key, plan.hold_streams, SLOW_MODEL, 2.0, lambda: procs.rss_mib(pids())
                )
            )
            log(
                f"  {fig.streams_open} streams open: RSS {fig.rss_before_streams:.1f} -> "
                f"{fig.rss_with_streams:.1f} MiB"
            )
            time.sleep(1)  # let the server finish closing them
        if plan.paired:
            own, floor = self.paired(fig, pids, port, key, "plain")
            (fig.plain32, fig.cpu_us_plain), (fig.paired_plain32, fig.paired_cpu_plain) = own, floor
        else:
            fig.plain32, fig.cpu_us_plain = self.loaded(pids, port, key, "plain", 32)
        if plan.c256:
            fig.plain256, _ = self.loaded(pids, port, key, "plain", 256)
        if plan.paired:
            own, floor = self.paired(fig, pids, port, key, "stream")
            (fig.stream32, fig.cpu_us_stream), (fig.paired_stream32, fig.paired_cpu_stream) = (
                own,
                floor,
            )
        else:
            fig.stream32, fig.cpu_us_stream = self.loaded(pids, port, key, "stream", 32)
        if plan.paired:
            self.unpinned_c32(fig, pids, port, key)
            self.translated(fig, pids, port, key)
        if plan.latency:
            self.latency(fig, port, key, plan)
        fig.other_cpu_pct, fig.steal_pct = background.percent()
        log(f"  background: other processes {fig.other_cpu_pct:.0f}%, steal {fig.steal_pct:.0f}%")

    def paired(
        self,
        fig: Figures,
        pids: Callable[[], list[int]],
        port: int,
        key: str,
        kind: str,
        floor_kind: str | None = None,
    ) -> tuple[tuple[wrk.WrkResult, float], tuple[wrk.WrkResult, float]]:
        """c32 runs taking turns with the floor's ``floor_kind`` runs (default: the same
        kind; ``--rounds`` of each, a third as long as a single run, the gateway first in
        even rounds and the floor first in odd ones); returns the pair whose throughput
        ratio is the median, and keeps every round's ratio in ``fig.rounds`` (by kind)."""
        seconds = paired_seconds(self.args.seconds)

        def floor() -> tuple[wrk.WrkResult, float]:
            log("  ... and the floor:")
            return self.loaded(
                lambda: self.floor_pids, self.floor_port, "-", floor_kind or kind, 32, seconds
            )

        pairs = []
        for round_ in range(self.args.rounds):
            if round_ % 2:
                before = floor()
                pairs.append((self.loaded(pids, port, key, kind, 32, seconds), before))
            else:
                own = self.loaded(pids, port, key, kind, 32, seconds)
                pairs.append((own, floor()))
        pairs.sort(key=lambda pair: pair[0][0].rps / max(pair[1][0].rps, 1e-9))
        fig.rounds[kind] = [g.rps / max(f.rps, 1e-9) for (g, _), (f, _) in pairs]
        return pairs[len(pairs) // 2]

    @contextlib.contextmanager
    def unpinned(self, pids: list[int]) -> Iterator[None]:
        """``pids``, the upstream, the floor and this process free to run on every core, as
        an operator's processes are; pinned back afterwards. Pinned, the gateway's core is
        its own, and waits that depend on the scheduler (a database thread, a write lock
        held by a flush) stay hidden: the c32 p99 target is checked both ways."""
        every = {int(c) for c in self.cpu.every.split(",")}
        moved = sorted({*pids, *self.servers, *self.floor_pids, os.getpid()})
        before = {pid: procs.affinity(pid) for pid in moved}
        procs.pin(moved, every)
        try:
            yield
        finally:
            for pid, cpus in before.items():
                procs.pin([pid], cpus)

    def unpinned_c32(
        self, fig: Figures, pids: Callable[[], list[int]], port: int, key: str
    ) -> None:
        """One c32 run of each kind with nothing pinned, each followed at once by the
        floor's, for the c32 p99 target."""
        log("  unpinned:")
        with self.unpinned(pids()):
            for kind in ("plain", "stream"):
                own = wrk.run(self.script(kind, key), port, 32, self.args.seconds, self.cpu.every)
                floor = wrk.run(
                    self.script(kind, "-"), self.floor_port, 32, self.args.seconds, self.cpu.every
                )
                log(
                    f"  {kind} c32 unpinned: {own.rps:,.0f} req/s, p99 {own.p99_ms:.2f} ms "
                    f"(floor {floor.rps:,.0f} req/s, p99 {floor.p99_ms:.2f} ms)"
                )
                fig.unpinned[kind] = (own, floor)

    def translated(self, fig: Figures, pids: Callable[[], list[int]], port: int, key: str) -> None:
        """Streamed c32 on the translated paths (an OpenAI client on an Anthropic channel,
        an Anthropic client on an OpenAI channel, a Responses client on an OpenAI chat
        channel), taking turns with the floor's pass-through stream as the throughput runs
        do (a single short run moved the ratio by over ten points from run to run)."""
        uvloop.run(clients.verify_translated(port, key))
        for kind in report.TRANSLATED:
            (own, _), (floor, _) = self.paired(fig, pids, port, key, kind, floor_kind="stream")
            fig.translated[kind] = (own, floor)

    def latency(self, fig: Figures, port: int, key: str, plan: Plan) -> None:
        """c1 and stream TTFB through ``port``, the upstream direct and the floor, in turns."""
        direct, floor, own = uvloop.run(
            clients.latencies(
                [(self.upstream_port, "-"), (self.floor_port, "-"), (port, key)],
                plan.c1_requests,
                plan.ttfb_streams,
                rounds=C1_ROUNDS,
                warmup=200,
            )
        )
        self.first_pairing = self.first_pairing or (direct, floor)
        fig.c1, fig.ttfb = own.c1, own.ttfb
        fig.direct_c1, fig.direct_ttfb = direct.c1, direct.ttfb
        fig.floor_c1, fig.floor_ttfb = floor.c1, floor.ttfb
        log(
            f"  c1 p50/p99 ms: {own.c1.p50_ms:.3f}/{own.c1.p99_ms:.3f} (floor "
            f"{floor.c1.p50_ms:.3f}/{floor.c1.p99_ms:.3f}, direct {direct.c1.p50_ms:.3f}/"
            f"{direct.c1.p99_ms:.3f}); TTFB p50 {own.ttfb.p50_ms:.3f} (floor "
            f"{floor.ttfb.p50_ms:.3f}, direct {direct.ttfb.p50_ms:.3f})"
        )

    def run_floor(self, processes: int, pids: list[int], port: int, plan: Plan) -> Figures:
        name = "floor (pass-through proxy)" + ("" if processes == 1 else f", {processes} procs")
        log(name)
        fig = Figures(name, workers=processes)
        self.measure(fig, lambda: pids, port, "-", plan)
        return fig

    def run_gateway(self, config: Config, database_url: str) -> Figures:
        log(config.name)
        data = Path(tempfile.mkdtemp(prefix="data-", dir=self.work))
        if config.database == "sqlite":
            database_url = f"sqlite:///{data / 'airelay.db'}"
        cpus = self.cpu.server if config.workers == 1 else self.cpu.every
        logfile = self.work / f"gateway-{config.database}-{config.workers}.log"
        limits = self.limits()
        front = not self.args.no_front
        gw = gateway.start(
            AIRELAY, database_url, data, config.workers, cpus, logfile, limits, front=front
        )
        try:
            gateway.configure(gw, self.upstream_port, limits is not None)
            time.sleep(1.5 if config.workers > 1 else 0.2)  # other workers poll the config
            name = config.name + (", limits on (Redis), metrics scraped" if limits else "")
            name += "" if front else ", aiohttp serving every route"
            fig = Figures(name, workers=config.workers)
            if limits is None:
                self.measure(fig, gw.pids, gw.port, gw.api_key, config.plan)
            else:
                with gateway.Scraper(gw, limits.scrape_seconds) as scraper:
                    self.measure(fig, gw.pids, gw.port, gw.api_key, config.plan)
                log(
                    f"  /metrics scraped {scraper.scrapes} times ({scraper.failures} failed); "
                    f"limit rejections: {scraper.rejections():g}"
                )
            time.sleep(1)  # usage rows are written in batches
            fig.usage_rows = gateway.usage_rows(gw)
            log(f"  usage rows logged: {fig.usage_rows:,}")
            return fig
        finally:
            code = procs.stop(gw.proc)
            if code:
                log(f"  warning: gateway exited with {code}; see {logfile}")
            shutil.rmtree(data, ignore_errors=True)


def plans(args: argparse.Namespace, pg: bool) -> tuple[Plan, list[Config]]:
    full = Plan(args.c1_requests, args.ttfb_streams, args.streams)
    throughput = dataclasses.replace(full, latency=False, hold=False, paired=False)
    configs = [Config("gateway, SQLite, 1 worker", "sqlite", 1, full)]
    if pg:
        configs.append(Config("gateway, PostgreSQL, 1 worker", "postgresql", 1, full))
    # Several workers are compared with the floor's several processes, measured once.
    multi = dataclasses.replace(full, paired=False) if args.full else throughput
    configs.append(Config("gateway, SQLite, 2 workers", "sqlite", 2, multi))
    if pg and args.full:
        configs.append(Config("gateway, PostgreSQL, 2 workers", "postgresql", 2, multi))
    return full, configs


def run_matrix(bench: Bench, args: argparse.Namespace) -> str:
    pg = gateway.postgres_available()
    if not pg:
        log("PostgreSQL is not reachable at 127.0.0.1:5432: its configurations are skipped")
    full, configs = plans(args, pg)
    no_latency = dataclasses.replace(full, latency=False, paired=False)
    with bench.upstream(), bench.floor(1, bench.floor_port) as floor_pids:
        bench.floor_pids = floor_pids
        floors = {1: bench.run_floor(1, floor_pids, bench.floor_port, no_latency)}
        port = procs.free_port()
        with bench.floor(2, port) as pids:
            plan = no_latency if args.full else dataclasses.replace(no_latency, hold=False)
            floors[2] = bench.run_floor(2, pids, port, plan)
        rows: list[Figures] = []
        for config in configs:
            if config.database == "postgresql":
                with gateway.fresh_postgres() as url:
                    rows.append(bench.run_gateway(config, url))
            else:
                rows.append(bench.run_gateway(config, ""))
    direct = Figures("upstream direct")
    if bench.first_pairing:
        direct.c1, direct.ttfb = bench.first_pairing[0].c1, bench.first_pairing[0].ttfb
        floor = floors[1]
        floor.c1, floor.ttfb = bench.first_pairing[1].c1, bench.first_pairing[1].ttfb
        floor.direct_c1, floor.direct_ttfb = direct.c1, direct.ttfb
    rows = [*floors.values(), *rows]
    (bench.work / "results.json").write_text(
        json.dumps([dataclasses.asdict(r) for r in [direct, *rows]], indent=1, default=str)
    )
    notes = [
        f"wrk: 1 thread, {args.seconds:g} s per run after a 3 s warm-up. c1: "
        f"{args.c1_requests} sequential non-streaming calls on one keep-alive connection; "
        f"TTFB: {args.ttfb_streams} sequential streams, time to the first body byte; both "
        f"taken in {C1_ROUNDS} rounds in turn with the upstream direct and the floor, so "
        "every gateway row is compared with figures measured alongside it (the floor row "
        "shows the first "
        f"pairing). Open streams: {args.streams} held against the upstream's slow mode "
        "(1 chunk/s), RSS before and with them open. RSS summed over the server's processes "
        "(2 workers: the parent and both workers). One-worker c32 throughput is taken in "
        f"{args.rounds} rounds of {paired_seconds(args.seconds)} s, each paired with the "
        "same run against the floor (the gateway first in even rounds, the floor first in "
        'odd ones); the table shows the round whose ratio is the median, and its "x '
        'floor" and target compare it with the floor run of its round (the floor row shows '
        "the floor's own first run); the targets also give the lowest and the highest "
        "round's ratio. Translated streams take turns with the floor's "
        "pass-through stream the same way. 2-worker throughput is compared with the 2-process "
        "floor. The c32 p99 targets compare that pinned pair's p99s, and one more "
        f"{args.seconds:g} s run of each kind with no process pinned (gateway, floor, "
        "upstream and wrk free to use every core), each followed by the floor's.",
        report.background(rows),
        (
            "Redis (`AIRELAY_REDIS_URL`) holds the rate-limit counters here, leased (the "
            "default): far from their limits, as here, a call takes from the instance's "
            "grants with no round trip, and a script that counts no call renews them before they "
            "run out (one script in ~40 calls, give-backs included); otherwise "
            "one script per call takes the key's and the channel's, and one per event-loop "
            "turn gives back the ends of that turn's calls."
            if args.limits
            else "Redis (`AIRELAY_REDIS_URL`) is not set here: the rate-limit counters are "
            "in-process (`--limits` puts them in Redis); `bench/affinity.py` measures the "
            "session-affinity bindings it also holds."
        ),
    ]
    if not args.full:
        notes.append(
            "Quick matrix: 2 workers (gateway and floor) for throughput only; `--full` measures "
            "every figure and adds PostgreSQL with 2 workers."
        )
    if not pg:
        notes.append("PostgreSQL was not reachable: no PostgreSQL rows.")
    return "\n\n".join(
        [
            "Non-streaming chat:",
            report.plain_table(direct, floors, rows),
            "Streaming chat (20 chunks per stream):",
            report.stream_table(direct, floors, rows),
            "Translated streams (c32, 20 chunks per stream; x the floor's pass-through stream "
            "run right after):",
            report.translated_table(rows),
            report.verdict_lines(floors[1], [r for r in rows if r.name.startswith("gateway")]),
            "\n".join(f"- {n}" for n in notes),
        ]
    )


def run_soak(bench: Bench, args: argparse.Namespace) -> str:
    data = Path(tempfile.mkdtemp(prefix="data-", dir=bench.work))
    logfile = bench.work / "gateway-soak.log"
    with bench.upstream():
        url = f"sqlite:///{data / 'airelay.db'}"
        gw = gateway.start(AIRELAY, url, data, 1, bench.cpu.server, logfile)
        try:
            gateway.configure(gw, bench.upstream_port)
            uvloop.run(clients.verify(gw.port, gw.api_key))
            bench.load(gw.port, gw.api_key, "plain", 32, 3)  # warm-up
            log(f"soak: {args.soak:g} s at {args.soak_rate:g} calls/s, RSS every 10 s")
            background = procs.Background(lambda: gw.pids() + bench.servers)
            cpu0, t0 = procs.cpu_seconds(gw.pids()), time.monotonic()
            samples, ok, failed = uvloop.run(
                clients.soak(
                    gw.port,
                    gw.api_key,
                    args.soak,
                    args.soak_rate,
                    10.0,
                    lambda: procs.rss_mib(gw.pids()),
                    log,
                )
            )
            busy = (procs.cpu_seconds(gw.pids()) - cpu0) / (time.monotonic() - t0)
            other, steal = background.percent()
            time.sleep(1)
            rows = gateway.usage_rows(gw)
        finally:
            procs.stop(gw.proc)
            shutil.rmtree(data, ignore_errors=True)
    first = [rss for t, rss in samples if t <= 60]
    last = [rss for t, rss in samples if t >= samples[-1][0] - 60]
    a, b = sum(first) / len(first), sum(last) / len(last)
    return (
        f"Soak, gateway SQLite 1 worker: {args.soak:g} s at {args.soak_rate:g} calls/s "
        f"(1 in 4 streamed), {ok:,} ok, {failed:,} failed, {rows:,} usage rows; the gateway "
        f"used {busy:.0%} of its core. Background: {other:.0f}% of a core used by other "
        f"processes, {steal:.0f}% steal.\n\n"
        "| RSS MiB | first minute (mean) | last minute (mean) | growth | min | max |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"| gateway | {a:.1f} | {b:.1f} | {b - a:+.1f} ({(b - a) / a:+.1%}) "
        f"| {min(r for _, r in samples):.1f} | {max(r for _, r in samples):.1f} |"
    )


def preflight() -> None:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: `{tool}` is not on PATH (apt-get install wrk util-linux)")
    if not AIRELAY.exists():
        sys.exit(f"bench: {AIRELAY} not found: run with the project's venv (make bench)")
    # 1,000 open streams take ~2,000 descriptors in the server (and 1,000 in this process)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="airelay gateway benchmark (see bench/README.md)")
    ap.add_argument("--full", action="store_true", help="every configuration, every figure")
    ap.add_argument("--seconds", type=float, default=8, help="each wrk run (default 8)")
    ap.add_argument("--c1-requests", type=int, default=4000)
    ap.add_argument("--ttfb-streams", type=int, default=500)
    ap.add_argument("--streams", type=int, default=1000, help="streams held open")
    ap.add_argument("--soak", type=float, default=0, help="run a soak of this many seconds")
    ap.add_argument("--soak-rate", type=float, default=400, help="calls/s during the soak")
    ap.add_argument(
        "--rounds",
        type=int,
        default=PAIRED_ROUNDS,
        help=f"paired rounds per c32 throughput figure (default {PAIRED_ROUNDS}; odd, so "
        "that one round is the median)",
    )
    ap.add_argument("--no-append", action="store_true", help="do not append to BENCHMARKS.md")
    ap.add_argument(
        "--limits",
        action="store_true",
        help="run the gateway with limits in every scope (never tripped), its counters in "
        "Redis, a monthly budget on the key, and /metrics scraped every second",
    )
    ap.add_argument(
        "--no-front",
        action="store_true",
        help="serve every route with aiohttp (AIRELAY_HTTP_FRONT=false), to compare",
    )
    ap.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="the Redis of --limits (default redis://127.0.0.1:6379/0)",
    )
    args = ap.parse_args()
    if args.rounds < 1 or args.rounds % 2 == 0:
        ap.error("--rounds must be an odd number of at least 1")
    return args


def main() -> None:
    args = parse()
    preflight()
    cpu = cores()
    os.sched_setaffinity(0, {int(cpu.load)})  # the asyncio clients run in this process
    started = datetime.datetime.now(datetime.UTC)
    commit = report.commit(REPO)  # the code measured: as it is when the run starts
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="airelay-bench-"))
    log(f"logs and results.json in {work}")
    bench = Bench(args, work, cpu)
    argv = " ".join(sys.argv[1:])
    command = f"python bench/run.py {argv}".strip()
    if os.environ.get("MAKELEVEL"):
        command = f"make bench{' BENCH_ARGS=' + repr(argv) if argv else ''}"
    try:
        if args.soak:
            section, title = run_soak(bench, args), "soak"
        else:
            section, title = run_matrix(bench, args), "make bench"
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        sys.exit(f"bench failed: {exc} (logs in {work})")
    elapsed = time.monotonic() - t0
    section += f"\n\nTotal run time: {elapsed:.0f} s."
    print()
    print(section)
    if not args.no_append:
        report.append(REPO / "BENCHMARKS.md", section, title, command, commit, started)
        print(f"\nappended to {REPO / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
