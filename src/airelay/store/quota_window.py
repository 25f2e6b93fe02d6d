"""A key's quota window: the stretch of UTC time its ``quota`` applies to.

``quota_period`` is NULL (the quota is for the key's whole life), ``daily`` (from 00:00
UTC), ``weekly`` (from Monday 00:00 UTC) or ``monthly`` (from the 1st, 00:00 UTC). A window
is named by its start in Unix seconds; a key without a period has the one window ``0``.
Two periods whose windows start at the same moment have spent the same amount since, so a
key whose period changes keeps counting correctly without a reset.
"""

from __future__ import annotations

import calendar
import datetime as dt

PERIODS = ("daily", "weekly", "monthly")
LIFETIME = 0  # the window of a key whose quota has no period
_DAY = 86400


def window_start(period: str | None, now: float) -> int:
    """The start of the window of ``period`` that holds ``now`` (Unix seconds)."""
    if period is None:
        return LIFETIME
    day = int(now) // _DAY * _DAY
    if period == "daily":
        return day
    if period == "weekly":
        # 1970-01-01 was a Thursday: day number 0 is weekday 3 (Monday is 0).
        return day - ((day // _DAY + 3) % 7) * _DAY
    if period == "monthly":
        date = dt.datetime.fromtimestamp(day, dt.UTC)
        return calendar.timegm((date.year, date.month, 1, 0, 0, 0))
    raise ValueError(f"unknown quota period {period!r}")


def window_end(period: str | None, start: int) -> int | None:
    """When the window of ``period`` starting at ``start`` ends (None: never)."""
    if period is None:
        return None
    if period == "daily":
        return start + _DAY
    if period == "weekly":
        return start + 7 * _DAY
    if period == "monthly":
        date = dt.datetime.fromtimestamp(start, dt.UTC)
        year, month = (date.year + 1, 1) if date.month == 12 else (date.year, date.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0))
    raise ValueError(f"unknown quota period {period!r}")


def used_in_window(
    period: str | None, used: int, period_used: int, period_start: int | None, window: int
) -> int:
    """What a key has spent in ``window``, from its ``tokens`` columns: the whole ``used``
    without a period, else ``period_used`` if it was counted for that window (0 if the
    count is of an earlier window: the window has turned since the last charge)."""
    if period is None:
        return used
    return period_used if period_start == window else 0
