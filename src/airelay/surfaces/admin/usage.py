"""``/v1/admin/usage``: billed calls, paged newest first, and totals from the daily rollups.

The user-facing ``/v1/usage`` answers the same page for the key's own user, so the page and
the filters live here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from airelay.errors import GatewayError
from airelay.money import units_to_usd
from airelay.state import AppState
from airelay.store import usage_queries
from airelay.store.usage import COUNTERS
from airelay.surfaces.admin.common import admin, iso, paging, parse_iso
from airelay.surfaces.responses import json_response

DAY_SECONDS = 86400
_FIRST_DAY = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
_LAST_DAY = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())


def _is_plain_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def time_range(request: web.Request) -> tuple[int | None, int | None]:
    """``start_date`` / ``end_date`` (ISO 8601 dates or times) as Unix seconds, start
    inclusive and end exclusive: a plain end date includes that whole day, an end time
    includes that second."""
    start = end = None
    raw_start = request.query.get("start_date")
    raw_end = request.query.get("end_date")
    if raw_start:
        start = parse_iso(raw_start, "start_date")
    if raw_end:
        end = parse_iso(raw_end, "end_date")
        end += DAY_SECONDS if _is_plain_date(raw_end) else 1
    if start is not None and end is not None and start >= end:
        raise GatewayError(400, "'start_date' must be before 'end_date'")
    return start, end


def _day(ts: int) -> str:
    """The UTC day of ``ts`` as the rollups spell it (four-digit year: days sort as text)."""
    clamped = min(max(ts, _FIRST_DAY), _LAST_DAY)
    return datetime.fromtimestamp(clamped, UTC).date().isoformat()


def day_range(start: int | None, end: int | None) -> tuple[str | None, str | None]:
    """The inclusive days that a time range touches (rollups count whole days)."""
    first = _day(start) if start is not None else None
    last = _day(end - 1) if end is not None else None
    return first, last


def row_view(row: dict[str, Any], *, operator: bool = False) -> dict[str, Any]:
    """A usage row as the API shows it; ``operator`` adds what the call cost upstream
    (``upstream_cost`` in USD, null when its channel's cost is not known), which a user's
    own view never shows."""
    view = {
        "id": row["id"],
        "user_id": row["user_id"],
        "token_id": row["token_id"],
        "model": row["model"],
        "endpoint": row["endpoint"],
        "channel_id": row["channel_id"],
        # The call went to the channel its conversation is bound to (session affinity).
        "affinity": bool(row["affinity"]),
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        # Cache reads and cache writes apart (both parts of prompt_tokens); the 1-hour
        # writes are a part of cache_write_tokens, priced higher than the 5-minute ones.
        "cached_tokens": row["cached_tokens"],
        "cache_write_tokens": row["cache_write_tokens"],
        "cache_write_1h_tokens": row["cache_write_1h_tokens"],
        "reasoning_tokens": row["reasoning_tokens"],
        "images": row["images"],
        # What the audio endpoints bill: characters read aloud, whole seconds heard.
        "characters": row["characters"],
        "audio_seconds": row["audio_seconds"],
        "cost": units_to_usd(row["cost"]),
        "latency_ms": row["latency_ms"],
        "status": row["status"],
        "request_id": row["request_id"],
        "timestamp": iso(row["created_at"]),
    }
    if operator:
        spent = row["upstream_cost"]
        view["upstream_cost"] = None if spent is None else units_to_usd(spent)
    return view


def _text(request: web.Request, name: str) -> str | None:
    return request.query.get(name) or None


async def usage_page(
    request: web.Request, state: AppState, user_id: str | None, *, operator: bool = False
) -> web.StreamResponse:
    """``{usage, total, page, limit}`` for the query's filters, restricted to ``user_id``;
    ``operator``: the rows with their upstream cost (``row_view``)."""
    page, limit = paging(request)
    start, end = time_range(request)
    async with state.engine.connect() as conn:
        rows, total = await usage_queries.page_usage(
            conn,
            user_id=user_id,
            model=_text(request, "model"),
            token_id=_text(request, "token_id"),
            start=start,
            end=end,
            page=page,
            limit=limit,
        )
    return json_response(
        {
            "usage": [row_view(r, operator=operator) for r in rows],
            "total": total,
            "page": page,
            "limit": limit,
        }
    )


@admin
async def list_usage(request: web.Request, state: AppState) -> web.StreamResponse:
    return await usage_page(request, state, _text(request, "user_id"), operator=True)


# What only the operator sees of the totals (the upstream cost and the margin), and what
# everyone does (calls, tokens, media counters; ``cost`` is shown in USD).
_COST_COUNTERS = ("upstream_cost", "cost_known_requests", "cost_known_revenue")
_SHOWN_COUNTERS = tuple(n for n in COUNTERS if n != "cost" and n not in _COST_COUNTERS)


def _counters_view(counters: dict[str, int], *, operator: bool = False) -> dict[str, Any]:
    """Totals as the API shows them. ``cost`` is what the users were charged (revenue).
    ``operator`` adds ``upstream_cost`` (what the calls whose channel had a cost set cost
    upstream), ``margin`` (their revenue minus that cost) and ``cost_known_requests``
    (how many calls those are): a call of unknown cost counts in neither, so the margin
    is never flattered by revenue whose cost is missing."""
    view: dict[str, Any] = {name: counters[name] for name in _SHOWN_COUNTERS}
    view["total_tokens"] = counters["prompt_tokens"] + counters["completion_tokens"]
    view["cost"] = units_to_usd(counters["cost"])
    if operator:
        spent = counters["upstream_cost"]
        view["upstream_cost"] = units_to_usd(spent)
        view["margin"] = units_to_usd(counters["cost_known_revenue"] - spent)
        view["cost_known_requests"] = counters["cost_known_requests"]
    return view


@admin
async def usage_summary(request: web.Request, state: AppState) -> web.StreamResponse:
    return await summary_page(request, state, _text(request, "user_id"), across_users=True)


def _ranked(totals: dict[str, dict[str, int]]) -> list[tuple[str, dict[str, int]]]:
    """Largest charge first, then by key: a stable order for equal totals."""
    return sorted(totals.items(), key=lambda item: (-item[1]["cost"], item[0]))


async def summary_page(
    request: web.Request, state: AppState, user_id: str | None, *, across_users: bool = False
) -> web.StreamResponse:
    """Totals per model and per day. From the rollups, so a time range counts whole days
    (the days it touches), and the totals outlive the expiry of raw rows.

    ``across_users`` (the operator's view) adds the totals per channel and per user, each
    with its channel's name or user's e-mail (``null`` once deleted). ``cost`` is what the
    users were charged: the gateway's revenue; the operator's view also shows the upstream
    cost and the margin (``_counters_view``)."""
    start_day, end_day = day_range(*time_range(request))
    filters = {
        "user_id": user_id,
        "model": _text(request, "model"),
        "start_day": start_day,
        "end_day": end_day,
    }
    async with state.engine.connect() as conn:
        summary = await usage_queries.summarize(conn, **filters)
        grouped: dict[str, list[dict[str, Any]]] = {}
        if across_users:
            for group, field, label in (
                ("channel_id", "by_channel", "name"),
                ("user_id", "by_user", "email"),
            ):
                totals = await usage_queries.totals_by(conn, group, **filters)
                names = await usage_queries.labels(conn, group, totals)
                grouped[field] = [
                    {
                        group: key or None,
                        label: names.get(key),
                        **_counters_view(c, operator=True),
                    }
                    for key, c in _ranked(totals)
                ]
    return json_response(
        {
            "start_date": start_day,
            "end_date": end_day,
            "totals": _counters_view(summary.totals, operator=across_users),
            "by_model": [
                {"model": name, **_counters_view(c, operator=across_users)}
                for name, c in _ranked(summary.by_model)
            ],
            "by_day": [
                {"date": day, **_counters_view(c, operator=across_users)}
                for day, c in sorted(summary.by_day.items())
            ],
            **grouped,
        }
    )
