"""The hot path's metric wrappers: once flushed, the exported values are exactly what
prometheus-client's own ``inc``/``observe`` would have made of the same updates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from airelay.observe.metrics import FastCounter, FastHistogram, flush

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# Values on the bucket bounds too: a bound belongs to its own bucket (``le``).
VALUES = st.lists(
    st.one_of(st.sampled_from(BUCKETS), st.floats(0, 10, allow_nan=False)), max_size=40
)


def _pair() -> tuple[CollectorRegistry, CollectorRegistry]:
    return CollectorRegistry(), CollectorRegistry()


@given(VALUES)
def test_a_flushed_histogram_exports_what_observe_would(values: list[float]) -> None:
    plain_registry, fast_registry = _pair()
    plain = Histogram("t", "t", ["x"], buckets=BUCKETS, registry=plain_registry)
    fast_parent = Histogram("t", "t", ["x"], buckets=BUCKETS, registry=fast_registry)
    fast, child = FastHistogram(fast_parent.labels("a")), plain.labels("a")
    for value in values:
        child.observe(value)
        fast.observe(value)
    flush()
    assert _samples(fast_registry) == _samples(plain_registry)
    flush()  # nothing is added twice
    assert _samples(fast_registry) == _samples(plain_registry)


@given(st.lists(st.integers(-5, 5), max_size=30))
def test_counter_and_gauge_adds_wait_for_the_flush_then_all_arrive(amounts: list[int]) -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", registry=registry)
    gauge = Gauge("g", "g", registry=registry)
    fast_counter, fast_gauge = FastCounter(counter), FastCounter(gauge)
    for amount in amounts:
        fast_counter.inc(abs(amount))
        fast_gauge.inc(amount) if amount >= 0 else fast_gauge.dec(-amount)
    flush()
    assert registry.get_sample_value("c_total") == sum(abs(a) for a in amounts)
    assert registry.get_sample_value("g") == sum(amounts)


def _samples(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if not line.startswith("#") and "_created" not in line
    ]
