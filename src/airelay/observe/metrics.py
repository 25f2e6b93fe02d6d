"""The gateway's Prometheus metrics, defined once per process.

The hot path never touches prometheus-client's values (each add takes a lock, a histogram
observation two adds and a Python loop over its buckets: ~10 µs a call in all). It adds to
plain numbers in ``Fast*`` wrappers of labelled children instead (an add; a ``bisect`` for
a histogram), and ``flush`` moves what they hold into the real values: before every
exposition in the process that answers the scrape, and every ``FLUSH_SECONDS`` in every
process (the other workers' part of a multi-worker scrape is at most that old).
Labels stay bounded: surface, status, channel id, model, key group, error code; never a key
id nor a user id.

With several worker processes (``AIRELAY_WORKERS`` > 1) the server points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start; each worker's
values then live in memory-mapped files there and ``GET /metrics`` sums them into one view
(``exposition``). That variable must be set before this module is first imported.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter(
    "airelay_requests", "Requests answered, by surface and HTTP status.", ["surface", "status"]
)
REQUEST_SECONDS = Histogram(
    "airelay_request_duration_seconds",
    "Time from a request's arrival to its last byte (streams included), by surface.",
    ["surface"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_TTFB = Histogram(
    "airelay_upstream_ttfb_seconds",
    "Time from sending an attempt to an upstream until its response head arrived.",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "airelay_upstream_latency_seconds",
    "Time of one upstream attempt: to the whole answer, or to a stream's first chunk.",
    ["channel", "model"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "airelay_upstream_errors",
    "Failed upstream attempts, by channel, model and code (HTTP status, timeout, error).",
    ["channel", "model", "code"],
)
TOKENS = Counter(
    "airelay_tokens",
    "Tokens billed, by channel, model, key group and kind (prompt, completion).",
    ["channel", "model", "group", "kind"],
)
COST = Counter(
    "airelay_cost_usd",
    "Cost charged in USD, by channel, model and key group.",
    ["channel", "model", "group"],
)
INFLIGHT_STREAMS = Gauge(
    "airelay_inflight_streams",
    "Streams being relayed to clients now.",
    multiprocess_mode="livesum",
)
CIRCUIT_STATE = Gauge(
    "airelay_circuit_state",
    'Circuit breaker state per channel (key="") and upstream key index: '
    "0 closed, 1 half open, 2 open (the worst of the worker processes).",
    ["channel", "key"],
    multiprocess_mode="livemax",
)
FLUSH_LAG = Gauge(
    "airelay_usage_flush_lag_seconds",
    "Age of the oldest usage row in the latest write of charges and usage rows.",
    multiprocess_mode="livemax",
)
LIMIT_REJECTIONS = Counter(
    "airelay_limit_rejections",
    "Calls refused at a limit (scope key, group, model; kind rpm, tpm, rpd, concurrency, "
    "quota), and channels passed over at theirs (scope channel).",
    ["scope", "kind"],
)


#: How often every process moves its pending counts into the exported values.
FLUSH_SECONDS = 0.5


class FastCounter:
    """A counter child (or a gauge child, with negative amounts) whose adds wait in a plain
    number until ``flush``."""

    __slots__ = ("_child", "_pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._pending: float = 0
        _FAST.append(self)

    def inc(self, amount: float = 1) -> None:
        self._pending += amount

    def dec(self, amount: float = 1) -> None:
        self._pending -= amount

    def flush(self) -> None:
        amount = self._pending
        if amount:
            self._pending = 0
            self._child.inc(amount)


class FastHistogram:
    """A histogram child whose observations are counted per bucket in a plain list until
    ``flush`` adds them to the child's bucket and sum values (prometheus-client's own
    layout: one value per upper bound, ``+Inf`` last, and one for the sum)."""

    __slots__ = ("_bounds", "_child", "_counts", "_labels", "_metric", "_sum")

    def __init__(self, child: Any, metric: Any = None, labels: tuple[str, ...] = ()) -> None:
        self._child = child
        self._metric = metric  # with ``labels``: the child, made on the first observation
        self._labels = labels
        source = child if child is not None else metric
        self._bounds: list[float] = list(source._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        _FAST.append(self)

    @classmethod
    def lazy(cls, metric: Histogram, *labels: str) -> FastHistogram:
        """The child of ``metric`` for ``labels``, exported only once it has observed
        something: a scrape does not list (and pay for) series that never counted."""
        return cls(None, metric, labels)

    def observe(self, amount: float) -> None:
        # The first bound >= amount: the bucket ``Histogram.observe`` would count it in.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def flush(self) -> None:
        counts = self._counts
        if not any(counts):
            return
        total, self._sum = self._sum, 0.0
        if self._child is None:
            self._child = self._metric.labels(*self._labels)
        buckets = self._child._buckets
        for index, count in enumerate(counts):
            if count:
                counts[index] = 0
                buckets[index].inc(count)
        self._child._sum.inc(total)


_FAST: list[FastCounter | FastHistogram] = []


def flush() -> None:
    """Move every pending count into the exported values."""
    for fast in _FAST:
        fast.flush()


async def flushing(seconds: float = FLUSH_SECONDS) -> None:
    """Flush every ``seconds`` until cancelled (then once more)."""
    try:
        while True:
            await asyncio.sleep(seconds)
            flush()
    finally:
        flush()


INFLIGHT = FastCounter(INFLIGHT_STREAMS)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> bytes:
    """The metrics text: this process's, or every worker's summed in multiprocess mode
    (reads the workers' files: call it off the event loop). Call ``flush`` first, on the
    event loop."""
    if not multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """A worker that exited: its live gauges stop counting."""
    if multiprocess():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


_rejections: dict[tuple[str, str], FastCounter] = {}


def limit_rejected(scope: str, kind: str) -> None:
    """One refusal at a limit. Only refusals count: an admitted call touches no metric
    here, and each scope and kind's labelled child is looked up once per process."""
    child = _rejections.get((scope, kind))
    if child is None:
        child = _rejections[(scope, kind)] = FastCounter(LIMIT_REJECTIONS.labels(scope, kind))
    child.inc()


_UNITS_PER_USD = 10**10  # airelay.money's unit (not imported: metrics import nothing of ours)
_charged: dict[tuple[str, str, str], tuple[FastCounter, FastCounter, FastCounter]] = {}


def charged(
    channel_id: str | None, model: str, group: str, prompt: int, completion: int, cost: int
) -> None:
    """A settled call: its tokens and cost (exact units) on its channel, model and group."""
    labels = (channel_id or "", model, group)
    children = _charged.get(labels)
    if children is None:
        children = _charged[labels] = (
            FastCounter(TOKENS.labels(*labels, "prompt")),
            FastCounter(TOKENS.labels(*labels, "completion")),
            FastCounter(COST.labels(*labels)),
        )
    children[0].inc(prompt)
    children[1].inc(completion)
    children[2].inc(cost / _UNITS_PER_USD)
