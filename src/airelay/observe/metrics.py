"""The gateway's Prometheus metrics, defined once per process.

Updates are prometheus-client counters, histograms and gauges: a dict lookup and an add on
the hot path. Labels stay bounded: surface, status, channel id, model, key group, error
code; never a key id nor a user id.

With several worker processes (``AIRELAY_WORKERS`` > 1) the server points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start; each worker's
values then live in memory-mapped files there and ``GET /metrics`` sums them into one view
(``exposition``). That variable must be set before this module is first imported.
"""

from __future__ import annotations

import os
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


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> bytes:
    """The metrics text: this process's, or every worker's summed in multiprocess mode
    (reads the workers' files: call it off the event loop)."""
    if not multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """A worker that exited: its live gauges stop counting."""
    if multiprocess():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


_rejections: dict[tuple[str, str], Any] = {}


def limit_rejected(scope: str, kind: str) -> None:
    """One refusal at a limit. Only refusals count: an admitted call touches no metric
    here, and each scope and kind's labelled child is looked up once per process."""
    child = _rejections.get((scope, kind))
    if child is None:
        child = _rejections[(scope, kind)] = LIMIT_REJECTIONS.labels(scope, kind)
    child.inc()


_UNITS_PER_USD = 10**10  # airelay.money's unit (not imported: metrics import nothing of ours)
_charged: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


def charged(
    channel_id: str | None, model: str, group: str, prompt: int, completion: int, cost: int
) -> None:
    """A settled call: its tokens and cost (exact units) on its channel, model and group."""
    labels = (channel_id or "", model, group)
    children = _charged.get(labels)
    if children is None:
        children = _charged[labels] = (
            TOKENS.labels(*labels, "prompt"),
            TOKENS.labels(*labels, "completion"),
            COST.labels(*labels),
        )
    children[0].inc(prompt)
    children[1].inc(completion)
    children[2].inc(cost / _UNITS_PER_USD)
