"""Time the admin usage queries on a large usage table, on SQLite and PostgreSQL.

Fills a fresh database (the real schema, through the migrations) with ``--rows`` usage rows
over ``--days`` days for ``--users`` users and ``--models`` models, plus their daily rollups,
then times each query as the gateway runs it (``airelay.store.usage_queries`` through the
async engine): one warm-up, then the median of ``--runs``.

Data shape: rows arrive in time order at a steady rate; users are equally active; each user
calls 4 models picked by a Zipf-like popularity (model 0 is the most used), each model is
served by one of 10 channels. The SQLite file and the PostgreSQL database are removed after.

    .venv/bin/python bench/usage_query.py
    .venv/bin/python bench/usage_query.py --rows 200000 --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from airelay.store import usage_queries
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.tables import usage_daily, usage_logs
from airelay.store.usage import day_of

LOG_COLUMNS = [c.name for c in usage_logs.columns]
DAILY_COLUMNS = [c.name for c in usage_daily.columns]
DAY = 86400
CHUNK = 100_000


class Data:
    """The generated population, and the rollups accumulated while rows are produced."""

    def __init__(self, rows: int, users: int, models: int, days: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows, self.days = rows, days
        self.end = int(time.time())
        self.start = self.end - days * DAY
        self.users = [f"usr_{self.rng.getrandbits(96):024x}" for _ in range(users)]
        self.tokens = {u: f"tok_{self.rng.getrandbits(96):024x}" for u in self.users}
        self.models = [f"model-{i:02d}" for i in range(models)]
        weights = [1 / (i + 1) for i in range(models)]
        self.user_models = {
            u: sorted(set(self.rng.choices(self.models, weights, k=4))) for u in self.users
        }
        self.channel_of = {m: f"ch_{i % 10:02d}" for i, m in enumerate(self.models)}
        self.rollups: dict[tuple[str, str, str, str], list[int]] = {}

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        rng, span = self.rng, self.end - self.start
        chunk: list[tuple[Any, ...]] = []
        for i in range(self.rows):
            user = rng.choice(self.users)
            model = rng.choice(self.user_models[user])
            ts = self.start + i * span // self.rows
            prompt, completion = rng.randint(20, 4000), rng.randint(1, 1500)
            cached, reasoning = rng.choice((0, 0, prompt // 2)), rng.choice((0, 0, 0, 200))
            cost = (prompt * 3 + completion * 15) * 10_000
            channel = self.channel_of[model]
            head = (f"log_{rng.getrandbits(96):024x}", user, self.tokens[user], model)
            counts = (prompt, completion, cached, reasoning, cost, rng.randint(200, 9000))
            request_id = f"req_{rng.getrandbits(96):024x}"
            row = (*head, "/v1/chat/completions", channel, *counts, 200, request_id, ts)
            chunk.append(row)
            total = self.rollups.setdefault((day_of(ts), user, model, channel), [0] * 6)
            for k, value in enumerate((1, prompt, completion, cached, reasoning, cost)):
                total[k] += value
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def rollup_rows(self) -> list[tuple[Any, ...]]:
        return [(*key, *values) for key, values in self.rollups.items()]


def fill_sqlite(path: Path, data: Data) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='usage_logs'"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:  # bulk load first, index after: several times faster
        conn.execute(f"DROP INDEX {name}")
    marks = ",".join("?" * len(LOG_COLUMNS))
    for chunk in data.chunks():
        conn.executemany(
            f"INSERT INTO usage_logs ({','.join(LOG_COLUMNS)}) VALUES ({marks})", chunk
        )
        conn.commit()
    for _, sql in indexes:
        conn.execute(sql)
    marks = ",".join("?" * len(DAILY_COLUMNS))
    cols = ",".join(f'"{c}"' for c in DAILY_COLUMNS)
    conn.executemany(f"INSERT INTO usage_daily ({cols}) VALUES ({marks})", data.rollup_rows())
    conn.commit()
    conn.close()


async def fill_postgres(dsn: str, data: Data) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_logs'"
            " AND indexname <> 'usage_logs_pkey'"
        )
        for record in indexes:
            await conn.execute(f'DROP INDEX "{record["indexname"]}"')
        for chunk in data.chunks():
            await conn.copy_records_to_table("usage_logs", records=chunk, columns=LOG_COLUMNS)
        for record in indexes:
            await conn.execute(record["indexdef"])
        await conn.copy_records_to_table(
            "usage_daily", records=data.rollup_rows(), columns=DAILY_COLUMNS
        )
        # What autovacuum does to a table this size soon after a load: statistics and the
        # visibility map (index-only scans).
        await conn.execute("VACUUM ANALYZE usage_logs")
        await conn.execute("VACUUM ANALYZE usage_daily")
    finally:
        await conn.close()


Query = Callable[[Any], Awaitable[object]]


def queries(data: Data) -> list[tuple[str, Query]]:
    user = data.users[len(data.users) // 2]
    top_model = data.models[0]
    month_ago = data.end - 30 * DAY
    page = usage_queries.page_usage
    count_all = select(func.count()).select_from(usage_logs)

    async def total_count(conn: Any) -> object:
        return (await conn.execute(count_all)).scalar_one()

    deep = data.rows // 50 // 2  # the middle of the table
    return [
        (
            "user + last 30 days, page 1",
            lambda c: page(c, user_id=user, start=month_ago, end=data.end, page=1, limit=50),
        ),
        (
            "model filter (most used model), page 1",
            lambda c: page(c, model=top_model, page=1, limit=50),
        ),
        (
            "model + last 30 days, page 1",
            lambda c: page(c, model=top_model, start=month_ago, page=1, limit=50),
        ),
        ("no filter, page 1", lambda c: page(c, page=1, limit=50)),
        ("no filter, page 1,000", lambda c: page(c, page=1000, limit=50)),
        (f"no filter, page {deep:,} (middle)", lambda c: page(c, page=deep, limit=50)),
        ("total count, no filter", total_count),
        ("summary: everything (rollups)", lambda c: usage_queries.summarize(c)),
        (
            "summary: user, last 30 days",
            lambda c: usage_queries.summarize(c, user_id=user, start_day=day_of(month_ago)),
        ),
        ("summary: most used model", lambda c: usage_queries.summarize(c, model=top_model)),
    ]


# Variants timed on the same data: "before" pages with a plain OFFSET at any depth; "after"
# is the code as built; "+index" adds the covering rollup index that BENCHMARKS.md proposes.
PROPOSED_INDEX = (
    "CREATE INDEX ix_usage_daily_day_model_totals ON usage_daily (day, model, requests,"
    " prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost)"
)
Results = dict[str, dict[str, float]]


async def time_queries(url: str, data: Data, runs: int) -> Results:
    engine = create_engine(url)
    results: Results = {}
    built_deep_offset = usage_queries.DEEP_OFFSET
    try:
        for variant in ("before", "after", "+index"):
            usage_queries.DEEP_OFFSET = sys.maxsize if variant == "before" else built_deep_offset
            timings = results[variant] = {}
            async with engine.connect() as conn:
                if variant == "+index":
                    await conn.execute(text(PROPOSED_INDEX))
                    await conn.commit()
                for name, query in queries(data):
                    if variant == "+index" and not name.startswith("summary"):
                        continue
                    await query(conn)  # warm-up
                    times = []
                    for _ in range(runs):
                        began = time.perf_counter()
                        await query(conn)
                        times.append((time.perf_counter() - began) * 1000)
                    timings[name] = statistics.median(times)
                    print(f"  {variant:<7} {name:<42} {timings[name]:9.1f} ms", flush=True)
    finally:
        usage_queries.DEEP_OFFSET = built_deep_offset
        await engine.dispose()
    return results


def run_sqlite(args: argparse.Namespace) -> Results:
    folder = Path(tempfile.mkdtemp(prefix="airelay-bench-"))
    path = folder / "usage.db"
    try:
        url = f"sqlite:///{path}"
        upgrade(url)
        data = Data(args.rows, args.users, args.models, args.days, args.seed)
        began = time.perf_counter()
        fill_sqlite(path, data)
        print(
            f"sqlite: filled in {time.perf_counter() - began:.0f} s, "
            f"{len(data.rollups):,} rollup rows, {path.stat().st_size / 2**20:.0f} MiB"
        )
        return asyncio.run(time_queries(url, data, args.runs))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _server(url: str, sql: str) -> None:
    conn = await asyncpg.connect(make_url(url).render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_postgres(args: argparse.Namespace) -> Results:
    name = "airelay_bench_" + uuid.uuid4().hex[:10]
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_server(args.postgres, f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        data = Data(args.rows, args.users, args.models, args.days, args.seed)
        began = time.perf_counter()
        asyncio.run(fill_postgres(url, data))
        print(
            f"postgresql: filled in {time.perf_counter() - began:.0f} s, "
            f"{len(data.rollups):,} rollup rows"
        )
        return asyncio.run(time_queries(url, data, args.runs))
    finally:
        asyncio.run(_server(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def print_table(results: dict[str, Results]) -> None:
    columns = [(b, v) for b in results for v in ("before", "after", "+index")]
    print("\n| query (median of runs, ms) | " + " | ".join(f"{b} {v}" for b, v in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in next(iter(results.values()))["after"]:
        cells = [results[b][v].get(name) for b, v in columns]
        row = " | ".join("" if c is None else f"{c:.1f}" for c in cells)
        print(f"| {name} | {row} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    results: dict[str, Results] = {}
    if "sqlite" in args.backend:
        results["sqlite"] = run_sqlite(args)
    if "postgresql" in args.backend:
        results["postgresql"] = run_postgres(args)
    print_table(results)


if __name__ == "__main__":
    main()
