"""The figures of one run, the tables printed and appended to BENCHMARKS.md, and the targets."""

from __future__ import annotations

import datetime
import os
import platform
import sqlite3
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from clients import CONTENT_CHUNKS, Quantiles
from wrk import WrkResult

# Targets for one worker, against the floor measured in the same run (MB read as MiB).
MIN_THROUGHPUT_RATIO = 0.80
MAX_C1_ADDED_P50_MS = 0.25
MAX_C1_ADDED_P99_MS = 1.0
MAX_TTFB_ADDED_P50_MS = 0.3
MAX_IDLE_RSS_MIB = 100.0
MAX_MIB_PER_1000_STREAMS = 50.0
# c32 p99 against the floor's, with the processes pinned to cores and not: a stall of all
# calls (e.g. behind a database write) shows in the tail long before it shows in req/s.
MAX_C32_P99_RATIO = 1.5
# Streams translated between formats (each event decoded and encoded again) against the
# floor's pass-through streams.
MIN_TRANSLATED_RATIO = 0.6
TRANSLATED = ("openai-to-anthropic", "anthropic-to-openai", "responses-to-openai")
TRANSLATED_NAMES = {
    "openai-to-anthropic": "OpenAI client → Anthropic channel",
    "anthropic-to-openai": "Anthropic client → OpenAI channel",
    "responses-to-openai": "Responses client → OpenAI chat channel",
}


@dataclass
class Figures:
    """What was measured for one configuration; None where it was not measured."""

    name: str
    workers: int = 1
    processes: int = 1
    startup_rss: float | None = None
    idle_rss: float | None = None
    plain32: WrkResult | None = None
    plain256: WrkResult | None = None
    stream32: WrkResult | None = None
    cpu_us_plain: float | None = None
    cpu_us_stream: float | None = None
    c1: Quantiles | None = None
    ttfb: Quantiles | None = None
    # measured in the same rounds as c1 and ttfb (see clients.latencies)
    direct_c1: Quantiles | None = None
    direct_ttfb: Quantiles | None = None
    floor_c1: Quantiles | None = None
    floor_ttfb: Quantiles | None = None
    streams_open: int = 0
    rss_before_streams: float | None = None
    rss_with_streams: float | None = None
    # the floor's c32 runs right after this configuration's (see run.Plan.paired)
    paired_plain32: WrkResult | None = None
    paired_stream32: WrkResult | None = None
    paired_cpu_plain: float | None = None
    paired_cpu_stream: float | None = None
    usage_rows: int | None = None
    other_cpu_pct: float | None = None
    steal_pct: float | None = None
    # kind ("plain", "stream") -> (own c32 run, the floor's right after), nothing pinned
    unpinned: dict[str, tuple[WrkResult, WrkResult]] = field(default_factory=dict)
    # translated kind -> (own c32 stream run, the floor's pass-through stream run after it)
    translated: dict[str, tuple[WrkResult, WrkResult]] = field(default_factory=dict)
    # kind -> every paired round's throughput ratio, lowest first (the median is the one shown)
    rounds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def mib_per_1000_streams(self) -> float | None:
        if not self.streams_open or self.rss_before_streams is None:
            return None
        assert self.rss_with_streams is not None
        return (self.rss_with_streams - self.rss_before_streams) * 1000 / self.streams_open


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return (
        f"{os.cpu_count()} cores ({model}), {mem_kb / 1024**2:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()} ({interpreter()}), "
        f"SQLite {sqlite3.sqlite_version}"
    )


def interpreter() -> str:
    """How this interpreter was built, which moves every figure: a plain source build (a
    shared libpython, configured without ``--enable-optimizations``) ran
    ``bench/translate.py`` 11-19% slower than Debian's statically linked build on the same
    machine (BENCHMARKS.md, 2026-12-05 08:32). Compare runs of the same kind of build."""
    with open("/proc/self/maps") as maps:
        shared = any("libpython" in line for line in maps)
    configured = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    parts = ["shared libpython" if shared else "static interpreter"]
    for flag in ("--enable-optimizations", "--with-lto"):
        if flag in configured:
            parts.append(flag)
    return ", ".join(parts)


def append(
    path: Path, section: str, title: str, command: str, commit: str, started: datetime.datetime
) -> None:
    """One run's entry at the end of ``path`` (BENCHMARKS.md): its title and start, the
    command, the commit and the machine, then ``section``."""
    text = (
        f"\n## {title} — {started:%Y-%m-%d %H:%M} UTC\n\n"
        f"Command: `{command}`. Commit: {commit}. Machine: {machine()}.\n\n"
        f"{section}\n"
    )
    with path.open("a") as fh:
        fh.write(text)


def commit(repo: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return f"{head} dirty" if git("status", "--porcelain") else head
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _n(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _pair(a: float | None, b: float | None, fmt: str = ".2f", sign: str = "") -> str:
    if a is None or b is None:
        return "-"
    return f"{a:{sign}{fmt}} / {b:{sign}{fmt}}"


def _ratio(value: WrkResult | None, floor: WrkResult | None) -> str:
    if value is None or floor is None or not floor.rps:
        return "-"
    return f"{value.rps / floor.rps:.2f}x"


def _errors(*runs: WrkResult | None) -> str:
    bad = sum(r.errors for r in runs if r is not None)
    return f" ⚠ {bad} errors" if bad else ""


def _diff(a: Quantiles | None, b: Quantiles | None) -> tuple[float | None, float | None]:
    if a is None or b is None:
        return None, None
    return a.p50_ms - b.p50_ms, a.p99_ms - b.p99_ms


def plain_table(direct: Figures, floors: dict[int, Figures], rows: list[Figures]) -> str:
    lines = [
        "| configuration | req/s c32 (x floor) | p50 / p99 ms c32 | req/s c256 (x floor)"
        " | p50 / p99 ms c256 | c1 p50 / p99 ms | c1 added vs direct p50 / p99 ms"
        " | c1 vs floor p50 / p99 ms | CPU µs/req c32 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| upstream direct | - | - | - | - | {_pair(*_qs(direct.c1))} | - | - | - |",
    ]
    for row in rows:
        floor = floors.get(row.workers) or floors[1]
        p32, p256 = row.plain32, row.plain256
        lines.append(
            f"| {row.name}{_errors(p32, p256)} "
            f"| {_n(p32 and p32.rps)} ({_ratio(p32, row.paired_plain32 or floor.plain32)}) "
            f"| {_pair(p32 and p32.p50_ms, p32 and p32.p99_ms)} "
            f"| {_n(p256 and p256.rps)} ({_ratio(p256, floor.plain256)}) "
            f"| {_pair(p256 and p256.p50_ms, p256 and p256.p99_ms)} "
            f"| {_pair(*_qs(row.c1))} "
            f"| {_pair(*_diff(row.c1, row.direct_c1), sign='+')} "
            f"| {_pair(*_diff(row.c1, row.floor_c1), sign='+')} "
            f"| {_n(row.cpu_us_plain)} |"
        )
    return "\n".join(lines)


def stream_table(direct: Figures, floors: dict[int, Figures], rows: list[Figures]) -> str:
    lines = [
        f"| configuration | streams/s c32 (x floor) | chunks/s c32 ({CONTENT_CHUNKS}/stream)"
        " | p50 / p99 ms c32 | TTFB p50 / p99 ms c1 | TTFB added vs direct p50 ms"
        " | TTFB vs floor p50 ms | CPU µs/stream c32 | idle RSS MiB"
        " | +MiB per 1,000 open streams |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| upstream direct | - | - | - | {_pair(*_qs(direct.ttfb))} | - | - | - | - | - |",
    ]
    for row in rows:
        floor = floors.get(row.workers) or floors[1]
        s32 = row.stream32
        added, _ = _diff(row.ttfb, row.direct_ttfb)
        vs_floor, _ = _diff(row.ttfb, row.floor_ttfb)
        per_1000 = row.mib_per_1000_streams
        held = f" ({row.streams_open} held)" if row.streams_open else ""
        lines.append(
            f"| {row.name}{_errors(s32)} "
            f"| {_n(s32 and s32.rps)} ({_ratio(s32, row.paired_stream32 or floor.stream32)}) "
            f"| {_n(s32 and s32.rps * CONTENT_CHUNKS)} "
            f"| {_pair(s32 and s32.p50_ms, s32 and s32.p99_ms)} "
            f"| {_pair(*_qs(row.ttfb))} "
            f"| {_n(added, '+.2f')} "
            f"| {_n(vs_floor, '+.2f')} "
            f"| {_n(row.cpu_us_stream)} "
            f"| {_n(row.idle_rss, '.1f')} "
            f"| {_n(per_1000, '+.1f')}{held} |"
        )
    return "\n".join(lines)


def translated_table(rows: list[Figures]) -> str:
    lines = [
        "| configuration | path | streams/s c32 (x floor) | p50 / p99 ms c32 | floor streams/s |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        for kind, (own, floor) in row.translated.items():
            lines.append(
                f"| {row.name}{_errors(own)} | {TRANSLATED_NAMES[kind]} "
                f"| {_n(own.rps)} ({_ratio(own, floor)}) | {_pair(own.p50_ms, own.p99_ms)} "
                f"| {_n(floor.rps)} |"
            )
    return "\n".join(lines)


def _translated(row: Figures) -> tuple[str, str, bool | None]:
    target = f"translated streams c32 ≥ {MIN_TRANSLATED_RATIO:.0%} of the floor"
    if not all(kind in row.translated for kind in TRANSLATED):
        return target, "not measured", None
    ratios = [own.rps / floor.rps if floor.rps else 0.0 for own, floor in row.translated.values()]
    shown = (
        " / ".join(f"{r:.0%}" for r in ratios)
        + " ("
        + ", ".join(TRANSLATED_NAMES[k] for k in row.translated)
        + ")"
    )
    spreads = [_spread(row.rounds.get(kind)) for kind in row.translated]
    if all(spreads):
        shown += "; rounds " + " / ".join(spreads)
    return target, shown, min(ratios) >= MIN_TRANSLATED_RATIO


def _qs(q: Quantiles | None) -> tuple[float | None, float | None]:
    return (None, None) if q is None else (q.p50_ms, q.p99_ms)


def _check(
    target: str, value: float | None, fmt: str, limit: float, at_least: bool = False
) -> tuple[str, str, bool | None]:
    """``fmt`` is a format spec with the unit after it: ``"+.2f ms"``."""
    if value is None:
        return target, "not measured", None
    spec, _, unit = fmt.partition(" ")
    shown = format(value, spec) + (f" {unit}" if unit else "")
    return target, shown, value >= limit if at_least else value <= limit


def _throughput(
    kind: str, ratio: float | None, cpu: tuple[float | None, float | None], rounds: list[float]
) -> tuple[str, str, bool | None]:
    """The c32 throughput target of ``kind`` (its median round's ``ratio``), with the ratio
    the CPU cost per request implies (``cpu``: the floor's and the gateway's µs; background
    load on a shared machine disturbs it less than req/s) and the spread of the rounds."""
    check = _check(
        f"{kind} req/s c32 ≥ {MIN_THROUGHPUT_RATIO:.0%} of the floor",
        ratio,
        ".0%",
        MIN_THROUGHPUT_RATIO,
        True,
    )
    target, shown, passed = check
    floor_us, own_us = cpu
    if floor_us is not None and own_us:
        shown += f" (by CPU µs per request: {floor_us / own_us:.0%})"
    if rounds:
        shown += f" (rounds {_spread(rounds)})"
    return target, shown, passed


def _spread(ratios: list[float] | None) -> str:
    """The lowest and highest of the rounds' ratios: how far the median shown may be off."""
    return f"{min(ratios):.0%}-{max(ratios):.0%}" if ratios else ""


def _with_pooled(
    check: tuple[str, str, bool | None], pooled: float | None
) -> tuple[str, str, bool | None]:
    """Adds the p99 of all calls pooled, the figure of the table."""
    if pooled is None:
        return check
    target, shown, passed = check
    return target, f"{shown} (all calls pooled: {pooled:+.2f} ms)", passed


def _c32_p99(
    pinning: str, pairs: list[tuple[WrkResult | None, WrkResult | None]]
) -> tuple[str, str, bool | None]:
    """The worse of the non-streaming and streaming ratios of p99s, both shown."""
    target = f"c32 p99 ≤ {MAX_C32_P99_RATIO:g}x the floor's, {pinning} (non-streaming / streaming)"
    measured = [(own, floor) for own, floor in pairs if own and floor and floor.p99_ms]
    if len(measured) < len(pairs) or not pairs:
        return target, "not measured", None
    ratios = [own.p99_ms / floor.p99_ms for own, floor in measured]
    shown = (
        " / ".join(f"{r:.2f}x" for r in ratios)
        + " ("
        + "; ".join(f"{own.p99_ms:.1f} vs {floor.p99_ms:.1f} ms" for own, floor in measured)
        + ")"
    )
    return target, shown, max(ratios) <= MAX_C32_P99_RATIO


def verdicts(floor: Figures, row: Figures) -> list[tuple[str, str, bool | None]]:
    """(target, measured, passed) for one single-worker configuration; None: not measured."""

    def ratio(a: WrkResult | None, b: WrkResult | None) -> float | None:
        return a.rps / b.rps if a and b and b.rps else None

    c1_p50, c1_p99 = _diff(row.c1, row.floor_c1)
    pooled_p99 = c1_p99
    if row.c1 and row.floor_c1 and row.c1.p99_rounds_ms and row.floor_c1.p99_rounds_ms:
        c1_p99 = row.c1.p99_rounds_ms - row.floor_c1.p99_rounds_ms
    ttfb, _ = _diff(row.ttfb, row.floor_ttfb)
    paired = row.paired_plain32 is not None
    plain = ratio(row.plain32, row.paired_plain32 or floor.plain32)
    stream = ratio(row.stream32, row.paired_stream32 or floor.stream32)
    return [
        _throughput(
            "non-streaming",
            plain,
            (row.paired_cpu_plain if paired else floor.cpu_us_plain, row.cpu_us_plain),
            row.rounds.get("plain", []),
        ),
        _throughput(
            "streaming",
            stream,
            (row.paired_cpu_stream if paired else floor.cpu_us_stream, row.cpu_us_stream),
            row.rounds.get("stream", []),
        ),
        _check(
            f"c1 p50 ≤ floor + {MAX_C1_ADDED_P50_MS:g} ms", c1_p50, "+.2f ms", MAX_C1_ADDED_P50_MS
        ),
        _with_pooled(
            _check(
                f"c1 p99 ≤ floor + {MAX_C1_ADDED_P99_MS:g} ms (median of the rounds' p99)",
                c1_p99,
                "+.2f ms",
                MAX_C1_ADDED_P99_MS,
            ),
            pooled_p99 if c1_p99 is not pooled_p99 else None,
        ),
        _check(
            f"stream TTFB p50 ≤ floor + {MAX_TTFB_ADDED_P50_MS:g} ms",
            ttfb,
            "+.2f ms",
            MAX_TTFB_ADDED_P50_MS,
        ),
        _c32_p99(
            "pinned",
            [
                (row.plain32, row.paired_plain32 or floor.plain32),
                (row.stream32, row.paired_stream32 or floor.stream32),
            ],
        ),
        _c32_p99(
            "unpinned",
            [row.unpinned.get("plain", (None, None)), row.unpinned.get("stream", (None, None))],
        ),
        _translated(row),
        _check(f"idle RSS ≤ {MAX_IDLE_RSS_MIB:.0f} MiB", row.idle_rss, ".1f MiB", MAX_IDLE_RSS_MIB),
        _check(
            f"≤ {MAX_MIB_PER_1000_STREAMS:.0f} MiB more per 1,000 open streams",
            row.mib_per_1000_streams,
            "+.1f MiB",
            MAX_MIB_PER_1000_STREAMS,
        ),
    ]


def verdict_lines(floor: Figures, rows: list[Figures]) -> str:
    out = []
    for row in rows:
        if row.workers != 1:
            continue
        out.append(f"Targets, {row.name} (vs the floor in this run):")
        for target, measured, passed in verdicts(floor, row):
            mark = "n/a " if passed is None else ("PASS" if passed else "FAIL")
            out.append(f"- {mark} {target}: {measured}")
    return "\n".join(out)


def background(rows: list[Figures]) -> str:
    """How busy the rest of the machine was while each configuration was measured."""
    measured = [r for r in rows if r.other_cpu_pct is not None and r.steal_pct is not None]
    parts = [f"{r.name} {r.other_cpu_pct:.0f}% / {r.steal_pct:.0f}%" for r in measured]
    noisy = any((r.other_cpu_pct or 0) > 10 or (r.steal_pct or 0) > 5 for r in measured)
    warning = " **Warning: the machine was busy; these figures are noisy.**" if noisy else ""
    return (
        "Background while measuring (CPU used by processes outside the benchmark / "
        f"hypervisor steal, % of one core): {'; '.join(parts)}.{warning}"
    )
