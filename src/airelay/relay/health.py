"""Channel health judged from live traffic: a circuit breaker per channel and per upstream key.

Each attempt the failover makes reports its outcome here. A breaker opens after
``failure_threshold`` failures in a row, or when at least ``failure_rate`` of the last
``window`` attempts failed; while open, failover skips its channel (or key). After
``cooldown`` seconds it is half open: the next live call is let through as the probe (one at
a time), and closes it on success or opens it again on failure. An upstream that answers
401 or 403 refused that key, not the channel: the key alone is disabled for
``key_cooldown`` seconds (then probed the same way); a channel whose every key is disabled
is skipped. A request the upstream refuses as wrong (400, 413, 422...) says the channel is
well.

The state is this process's: nothing on the hot path waits for another instance. It is kept
by channel id and key, so a snapshot reload (a channel edited) keeps it; a new key starts
closed. Optionally, channels of one priority are tried fastest first (an EWMA of the time
to an upstream's response head, ``latency_routing``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from airelay.config import Settings
from airelay.observe.metrics import CIRCUIT_STATE
from airelay.store.snapshot import ChannelRecord

# An upstream status that refuses the key the gateway sent.
KEY_REJECTED = frozenset({401, 403})
_EWMA_ALPHA = 0.2


class State(IntEnum):
    """The breaker's state; the value is the ``airelay_circuit_state`` gauge's."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class HealthSettings:
    failure_threshold: int = 5  # failures in a row that open a breaker; 0: no breakers
    failure_rate: float = 0.0  # share of the window's attempts that opens it; 0: off
    window: int = 20
    cooldown: float = 30.0  # seconds open before a probe
    key_cooldown: float = 300.0  # seconds a key the upstream refused stays disabled
    latency_routing: bool = False

    @property
    def enabled(self) -> bool:
        return self.failure_threshold > 0


class Breaker:
    """One circuit: closed, open until a time, or half open with at most one probe out."""

    __slots__ = (
        "_failures",
        "_outcomes",
        "_probe_since",
        "_settings",
        "gauge",
        "reason",
        "row",
        "state",
        "until",
        "until_wall",
    )

    def __init__(self, settings: HealthSettings, channel_id: str, key: str) -> None:
        self._settings = settings
        self.state = State.CLOSED
        self.reason: str | None = None
        self.until = 0.0  # monotonic end of the cool-down
        self.until_wall = 0.0  # ... as wall time, for the admin view
        self.row = 0  # failures in a row
        self._outcomes: deque[bool] = deque(maxlen=max(settings.window, 1))
        self._failures = 0  # True entries in _outcomes
        self._probe_since: float | None = None
        self.gauge = CIRCUIT_STATE.labels(channel_id, key)

    def ready(self, now: float) -> bool:
        """Whether a call may go through now, without taking the probe."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            return now >= self.until
        return self._probe_since is None or now - self._probe_since >= self._settings.cooldown

    def take(self, now: float) -> bool:
        """Let one call through (open past its cool-down turns half open: this call is the
        probe); False when it must be skipped."""
        if self.state is State.CLOSED:
            return True
        if not self.ready(now):
            return False
        if self.state is State.OPEN:
            self._set(State.HALF_OPEN)
        self._probe_since = now
        return True

    def succeeded(self) -> None:
        self.row = 0
        self._record(False)
        if self.state is not State.CLOSED:
            self._outcomes.clear()
            self._failures = 0
            self.reason = None
            self._probe_since = None
            self._set(State.CLOSED)

    def failed(self, now: float, reason: str) -> None:
        self.row += 1
        self._record(True)
        settings = self._settings
        if self.state is State.HALF_OPEN:
            self.open(now, settings.cooldown, f"probe failed: {reason}")
            return
        if self.state is State.OPEN:
            return
        if settings.failure_threshold and self.row >= settings.failure_threshold:
            self.open(now, settings.cooldown, f"{self.row} failures in a row; last: {reason}")
            return
        window = self._outcomes
        if (
            settings.failure_rate
            and len(window) == window.maxlen
            and self._failures >= settings.failure_rate * len(window)
        ):
            share = f"{self._failures} of the last {len(window)} attempts failed"
            self.open(now, settings.cooldown, f"{share}; last: {reason}")

    def open(self, now: float, seconds: float, reason: str) -> None:
        self.reason = reason
        self.until = now + seconds
        self.until_wall = time.time() + seconds
        self._probe_since = None
        self._set(State.OPEN)

    def abandoned(self) -> None:
        """The probe's call ended without an outcome (the client left): another may probe."""
        self._probe_since = None

    def view(self) -> dict[str, Any]:
        now = time.monotonic()
        state = self.state
        if state is State.OPEN and now >= self.until:
            state = State.HALF_OPEN  # the next call probes it
        until = None if state is State.CLOSED else _iso(self.until_wall)
        return {"state": state.label, "reason": self.reason, "until": until}

    def _record(self, failed: bool) -> None:
        window = self._outcomes
        if len(window) == window.maxlen and window[0]:
            self._failures -= 1
        window.append(failed)
        self._failures += failed

    def _set(self, state: State) -> None:
        self.state = state
        self.gauge.set(state)


class Health:
    """Every channel's and upstream key's breaker in this process, and the channels'
    response-head EWMAs."""

    __slots__ = ("_channels", "_keys", "_ttfb", "settings")

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self._channels: dict[str, Breaker] = {}
        self._keys: dict[tuple[str, str], Breaker] = {}
        self._ttfb: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def ready(self, channel_id: str, keys: Sequence[str]) -> bool:
        """Whether ``channel_id`` could take a call now (nothing taken): its breaker lets
        calls through and one of its keys does."""
        now = time.monotonic()
        breaker = self._channels.get(channel_id)
        if breaker is not None and not breaker.ready(now):
            return False
        return self._usable_key(channel_id, keys, now)

    def take(self, channel_id: str, keys: Sequence[str]) -> bool:
        """Let one call go to ``channel_id`` (its probe, when half open), or False: skip it."""
        if not self.settings.enabled:
            return True
        now = time.monotonic()
        if not self._usable_key(channel_id, keys, now):
            return False
        breaker = self._channels.get(channel_id)
        return breaker is None or breaker.take(now)

    def take_key(self, channel_id: str, key: str) -> bool:
        breaker = self._keys.get((channel_id, key))
        return breaker is None or breaker.take(time.monotonic())

    def key_ready(self, channel_id: str, key: str) -> bool:
        breaker = self._keys.get((channel_id, key))
        return breaker is None or breaker.ready(time.monotonic())

    def succeeded(self, channel_id: str, key: str, ttfb: float | None) -> None:
        if self.settings.enabled:
            channel = self._channels.get(channel_id)
            if channel is None:  # the failure rate counts from the first attempt on
                channel = self._channels[channel_id] = Breaker(self.settings, channel_id, "")
            channel.succeeded()
            key_breaker = self._keys.get((channel_id, key))
            if key_breaker is not None:
                key_breaker.succeeded()
        if ttfb is not None:
            last = self._ttfb.get(channel_id)
            self._ttfb[channel_id] = ttfb if last is None else last + _EWMA_ALPHA * (ttfb - last)

    def failed(
        self, channel_id: str, keys: Sequence[str], key: str, status: int | None, reason: str
    ) -> None:
        """An attempt failed. A refused key disables that key alone; anything else counts
        against both the key and the channel."""
        if not self.settings.enabled:
            return
        now = time.monotonic()
        key_breaker = self._key_breaker(channel_id, keys, key)
        if status in KEY_REJECTED:
            key_breaker.open(
                now, self.settings.key_cooldown, f"the upstream refused the key: {reason}"
            )
            return
        key_breaker.failed(now, reason)
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = Breaker(self.settings, channel_id, "")
        channel.failed(now, reason)

    def abandoned(self, channel_id: str, key: str) -> None:
        for breaker in (self._channels.get(channel_id), self._keys.get((channel_id, key))):
            if breaker is not None:
                breaker.abandoned()

    def ttfb(self, channel_id: str) -> float:
        """The channel's EWMA time to a response head; 0 before its first answer (so that
        a new channel gets tried)."""
        return self._ttfb.get(channel_id, 0.0)

    def retry_after(self, channel_ids: Sequence[str]) -> int:
        """Whole seconds until the first of these channels may be probed again."""
        now = time.monotonic()
        ends = [
            breaker.until
            for breaker in (self._channels.get(channel_id) for channel_id in channel_ids)
            if breaker is not None and breaker.state is State.OPEN
        ]
        ends += [
            breaker.until
            for (channel_id, _key), breaker in self._keys.items()
            if channel_id in channel_ids and breaker.state is State.OPEN
        ]
        return max(1, int(min(ends, default=now + 1) - now + 0.999))

    def view(self, channel_id: str, keys: Sequence[str]) -> dict[str, Any]:
        """The channel's health as the admin API shows it: its breaker's state, reason and
        cool-down end, and each key's by position (never the key)."""
        breaker = self._channels.get(channel_id)
        shown = breaker.view() if breaker is not None else _closed()
        key_views = []
        for index, key in enumerate(keys):
            key_breaker = self._keys.get((channel_id, key))
            key_views.append({"index": index, **(key_breaker.view() if key_breaker else _closed())})
        if (
            shown["state"] == "closed"
            and keys
            and all(view["state"] == "open" for view in key_views)
        ):
            shown = {
                "state": "open",
                "reason": "every upstream key is disabled",
                "until": min(view["until"] for view in key_views),
            }
        return {**shown, "keys": key_views}

    def _usable_key(self, channel_id: str, keys: Sequence[str], now: float) -> bool:
        if not self._keys:
            return True
        for key in keys or ("",):
            breaker = self._keys.get((channel_id, key))
            if breaker is None or breaker.ready(now):
                return True
        return False

    def _key_breaker(self, channel_id: str, keys: Sequence[str], key: str) -> Breaker:
        breaker = self._keys.get((channel_id, key))
        if breaker is None:
            index = str(keys.index(key)) if key in keys else "0"
            breaker = self._keys[(channel_id, key)] = Breaker(self.settings, channel_id, index)
        return breaker


def channel_health(settings: Settings) -> Health | None:
    """The process's breakers as the settings ask for them; None when they are off (a
    failure threshold of 0) and latency routing is too."""
    health_settings = HealthSettings(
        failure_threshold=settings.circuit_failure_threshold,
        failure_rate=settings.circuit_failure_rate,
        window=settings.circuit_window,
        cooldown=settings.circuit_cooldown_seconds,
        key_cooldown=settings.upstream_key_disable_seconds,
        latency_routing=settings.latency_routing,
    )
    if not health_settings.enabled and not health_settings.latency_routing:
        return None
    return Health(health_settings)


def pick_key(health: Health | None, channel: ChannelRecord) -> str:
    """The channel's next upstream key in turn, passing over those whose circuit is open
    (a key the upstream refused); the probe of one half open is taken here."""
    keys = channel.api_keys
    if health is None or not health.enabled or len(keys) <= 1:
        key = channel.next_key()
        if health is not None and health.enabled:
            health.take_key(channel.id, key)
        return key
    for _ in keys:
        key = channel.next_key()
        if health.take_key(channel.id, key):
            return key
    return channel.next_key()  # none is usable: failover skipped the channel already


def _closed() -> dict[str, Any]:
    return {"state": "closed", "reason": None, "until": None}


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + 0.999))
