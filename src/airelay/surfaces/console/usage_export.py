"""``GET /console/api/usage.csv``: every usage row of the signed-in user that matches the
usage page's filters (``model``, ``token_id``, ``start_date``, ``end_date``), as CSV.

Streamed in pages read by keyset (``store.usage_queries.rows_after``), each on a connection
of its own, so an export of any length neither holds a connection while a slow client reads
nor skips or repeats a row when calls are recorded meanwhile. Costs are exact USD decimals
(from the integer units), not floats; cache reads and cache writes have columns of their
own. A text cell that a spreadsheet would run as a formula is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aiohttp import web

from airelay.money import UNITS_PER_USD
from airelay.store import usage_queries
from airelay.surfaces.admin.common import iso
from airelay.surfaces.admin.usage import time_range
from airelay.surfaces.console.own import signed_in_user

BATCH = 1000
COLUMNS = (
    "timestamp",
    "request_id",
    "model",
    "endpoint",
    "token_id",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "images",
    "characters",
    "audio_seconds",
    "cost",
    "latency_ms",
    "status",
)
_TEXT = frozenset({"request_id", "model", "endpoint", "token_id"})
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def usd_text(units: int) -> str:
    """Units as an exact USD decimal: 12345 -> ``0.0000012345``."""
    return f"{Decimal(units) / UNITS_PER_USD:f}"


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if name in _TEXT and str(value).startswith(_FORMULA):
        return f"'{value}"
    return value


def csv_lines(rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        values = {
            **row,
            "timestamp": iso(row["created_at"]),
            "cost": usd_text(row["cost"]),
        }
        writer.writerow([_cell(name, values.get(name)) for name in COLUMNS])
    return out.getvalue()


async def export(request: web.Request) -> web.StreamResponse:
    state, user_id = await signed_in_user(request)
    start, end = time_range(request)
    model = request.query.get("model") or None
    token_id = request.query.get("token_id") or None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="usage.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write((",".join(COLUMNS) + "\r\n").encode())
    after: tuple[int, str] | None = None
    while True:
        async with state.engine.connect() as conn:
            rows = await usage_queries.rows_after(
                conn,
                user_id=user_id,
                model=model,
                token_id=token_id,
                start=start,
                end=end,
                after=after,
                limit=BATCH,
            )
        if rows:
            await response.write(csv_lines(rows).encode())
        if len(rows) < BATCH:
            break
        after = (rows[-1]["created_at"], rows[-1]["id"])
    await response.write_eof()
    return response
