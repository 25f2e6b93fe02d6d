"""The circuit breakers of ``relay.health`` alone: when they open, how one probe goes
through a half-open circuit, when they close, and a refused key disabled apart from its
channel. (Through a running gateway: ``test_health_gateway.py``.)"""

from __future__ import annotations

import time

import pytest

from airelay.relay.health import Breaker, Health, HealthSettings, State

KEYS = ("sk-a", "sk-b")


def _health(**overrides: object) -> Health:
    settings = {"failure_threshold": 3, "failure_rate": 0.0, "cooldown": 0.2, **overrides}
    return Health(HealthSettings(**settings))  # type: ignore[arg-type]


def test_consecutive_failures_open_the_circuit_and_a_success_resets_the_count() -> None:
    health = _health()
    for _ in range(2):
        health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
    health.succeeded("ch", "sk-a", 0.1)  # two in a row, then one good: the count restarts
    for _ in range(2):
        health.failed("ch", KEYS, "sk-b", 502, "HTTP 502")
    assert health.take("ch", KEYS)
    health.failed("ch", KEYS, "sk-b", 503, "HTTP 503: overloaded")
    assert not health.take("ch", KEYS)
    view = health.view("ch", KEYS)
    assert view["state"] == "open"
    assert "3 failures in a row" in view["reason"] and "HTTP 503" in view["reason"]
    assert view["until"] is not None


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes() -> None:
    health = _health()
    for _ in range(3):
        health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
    assert not health.take("ch", KEYS)
    time.sleep(0.25)
    assert health.view("ch", KEYS)["state"] == "half_open"
    assert health.take("ch", KEYS)  # the probe
    assert not health.take("ch", KEYS)  # one probe at a time
    health.succeeded("ch", "sk-a", 0.05)
    assert health.view("ch", KEYS) | {"keys": None} == {
        "state": "closed",
        "reason": None,
        "until": None,
        "keys": None,
    }
    assert health.take("ch", KEYS) and health.take("ch", KEYS)


def test_a_failed_probe_opens_the_circuit_again_for_a_whole_cooldown() -> None:
    health = _health()
    for _ in range(3):
        health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
    time.sleep(0.25)
    assert health.take("ch", KEYS)
    health.failed("ch", KEYS, "sk-a", None, "no answer in time")
    view = health.view("ch", KEYS)
    assert view["state"] == "open" and view["reason"].startswith("probe failed")
    assert not health.take("ch", KEYS)
    time.sleep(0.25)
    assert health.take("ch", KEYS)


def test_a_probe_whose_client_left_frees_the_probe_slot() -> None:
    health = _health()
    for _ in range(3):
        health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
    time.sleep(0.25)
    assert health.take("ch", KEYS)
    health.abandoned("ch", "sk-a")
    assert health.take("ch", KEYS)


def test_the_failure_rate_over_the_window_opens_it_too() -> None:
    health = _health(failure_threshold=100, failure_rate=0.5, window=10)
    for index in range(10):  # every other attempt fails: never two in a row
        if index % 2:
            health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
        else:
            health.succeeded("ch", "sk-a", None)
    view = health.view("ch", KEYS)
    assert view["state"] == "open"
    assert "5 of the last 10 attempts failed" in view["reason"]


def test_below_the_rate_it_stays_closed() -> None:
    health = _health(failure_threshold=100, failure_rate=0.5, window=10)
    for index in range(30):
        if index % 3 == 0:
            health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
        else:
            health.succeeded("ch", "sk-a", None)
    assert health.view("ch", KEYS)["state"] == "closed"


def test_a_refused_key_is_disabled_alone_and_the_channel_stays_closed() -> None:
    health = _health(key_cooldown=60.0)
    health.failed("ch", KEYS, "sk-a", 401, "HTTP 401: invalid api key")
    assert not health.key_ready("ch", "sk-a")
    assert health.key_ready("ch", "sk-b")
    assert health.take("ch", KEYS)  # the channel still takes calls, with its other key
    view = health.view("ch", KEYS)
    assert view["state"] == "closed"
    assert view["keys"][0]["state"] == "open"
    assert "refused the key" in view["keys"][0]["reason"]
    assert view["keys"][1] == {"index": 1, "state": "closed", "reason": None, "until": None}
    assert "sk-a" not in str(view)


def test_a_channel_whose_every_key_is_refused_is_skipped() -> None:
    health = _health(key_cooldown=60.0)
    health.failed("ch", KEYS, "sk-a", 401, "HTTP 401")
    health.failed("ch", KEYS, "sk-b", 403, "HTTP 403")
    assert not health.take("ch", KEYS)
    view = health.view("ch", KEYS)
    assert view["state"] == "open" and view["reason"] == "every upstream key is disabled"
    assert 50 <= health.retry_after(["ch"]) <= 60


def test_threshold_zero_turns_the_breakers_off() -> None:
    health = _health(failure_threshold=0)
    for _ in range(50):
        health.failed("ch", KEYS, "sk-a", 500, "HTTP 500")
        health.failed("ch", KEYS, "sk-b", 401, "HTTP 401")
    assert health.take("ch", KEYS)
    assert health.view("ch", KEYS)["state"] == "closed"


def test_the_ewma_of_the_time_to_the_response_head() -> None:
    health = _health()
    assert health.ttfb("ch") == 0.0  # not measured yet: tried first
    health.succeeded("ch", "sk-a", 1.0)
    health.succeeded("ch", "sk-a", 2.0)
    assert health.ttfb("ch") == pytest.approx(1.2)


def test_the_breaker_state_is_exported_as_a_gauge() -> None:
    breaker = Breaker(HealthSettings(failure_threshold=1), "gauge-ch", "")
    breaker.failed(time.monotonic(), "HTTP 500")
    assert breaker.state is State.OPEN
    assert breaker.gauge._value.get() == 2  # type: ignore[attr-defined]
    breaker.succeeded()
    assert breaker.gauge._value.get() == 0  # type: ignore[attr-defined]
