"""Which counters a call counts against, and how many of it each allows: the rules, read
from the key's record and the stored ``rate_limits`` settings; no I/O.

Scopes (each a set of fixed windows aligned on the clock: a minute, a day):

* the key: its own ``rpm``/``tpm``/``max_concurrency``, or the ``rate_limits`` default
  (``requests_per_minute``, ``tokens_per_minute``, ``requests_per_day``,
  ``max_concurrency``) for a field the key leaves unset;
* the user, by group: ``rate_limits.groups.<group>`` holds per user of that group, across
  all the user's keys (a free tier of 10 RPM: ``{"groups": {"free":
  {"requests_per_minute": 10}}}``);
* the model: ``rate_limits.models.<model>`` holds per user on that model.

A limit of 0 (or absent) is no limit. Tokens are the prompt's and the answer's: a call
reserves an estimate of its input before it goes, and its real usage replaces the estimate
when it settles.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot

MINUTE = 60
DAY = 86_400

#: The fields of one scope's limits, as the settings name them: (field, window, kind).
FIELDS: tuple[tuple[str, int, str], ...] = (
    ("requests_per_minute", MINUTE, "requests"),
    ("tokens_per_minute", MINUTE, "tokens"),
    ("requests_per_day", DAY, "requests"),
)
CONCURRENCY = "max_concurrency"
SCOPE_FIELDS = frozenset(name for name, _, _ in FIELDS) | {CONCURRENCY}
#: Bytes of a request body per token of the reservation estimate (tokens run ~4 bytes of
#: English text; JSON syntax makes the estimate a little high, never very low).
BYTES_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Rule:
    """One counter: ``name`` counts ``kind`` (requests, tokens) in windows of ``window``
    seconds (0: a count of calls in flight, released when each ends), up to ``limit``."""

    name: str
    kind: str
    window: int
    limit: int


class RuleList(list[Rule]):
    """The rules of one key and model (or one channel), made once (``rules``) and kept
    while neither changes; each stage keeps what it works out of them once here, rather
    than in a table of its own: ``plan`` (the limit stage's), ``prepared`` (the counters
    backend's)."""

    __slots__ = ("plan", "prepared")

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        super().__init__(rules)
        self.plan: Any = None
        self.prepared: Any = None


@dataclass(frozen=True, slots=True)
class Scope:
    """A scope's limits, parsed once per settings document."""

    limits: tuple[tuple[str, int, str, int], ...]  # (field, window, kind, limit), limit > 0
    concurrency: int  # 0: none


@dataclass(frozen=True, slots=True)
class Policy:
    default: Mapping[str, int]
    groups: Mapping[str, Scope]
    models: Mapping[str, Scope]

    @property
    def empty(self) -> bool:
        return not (any(self.default.values()) or self.groups or self.models)


def _scope(values: Mapping[str, Any]) -> Scope:
    limits = tuple(
        (name, window, kind, int(values[name]))
        for name, window, kind in FIELDS
        if int(values.get(name) or 0) > 0
    )
    return Scope(limits, int(values.get(CONCURRENCY) or 0))


def parse(rate_limits: Mapping[str, Any] | None) -> Policy:
    """The policy of a stored ``rate_limits`` document (validated when it was written)."""
    document = rate_limits or {}
    default = {name: int(document.get(name) or 0) for name in SCOPE_FIELDS}
    groups = {name: _scope(values) for name, values in (document.get("groups") or {}).items()}
    models = {name: _scope(values) for name, values in (document.get("models") or {}).items()}
    return Policy(
        default,
        {name: scope for name, scope in groups.items() if scope.limits or scope.concurrency},
        {name: scope for name, scope in models.items() if scope.limits or scope.concurrency},
    )


_parsed: tuple[object, Policy] = (object(), parse(None))


def policy(snapshot: Snapshot) -> Policy:
    """The snapshot's policy, parsed once per settings document (the hot path compares one
    reference)."""
    global _parsed
    document = snapshot.rate_limits
    if _parsed[0] is not document:
        _parsed = (document, parse(document))
    return _parsed[1]


#: (id of a key record, model) -> (the record, the policy, its rules): made once for each
#: until the record or the settings change (a new snapshot makes new records).
_made: dict[tuple[int, str], tuple[KeyRecord, Policy, RuleList]] = {}
MAX_MADE = 100_000


def rules(snapshot: Snapshot, record: KeyRecord, model: str) -> RuleList:
    """Every counter a call of ``record`` on ``model`` counts against (the same list for
    every call of that key and model, while neither the key nor the settings change)."""
    found = policy(snapshot)
    entry = _made.get((id(record), model))
    if entry is not None and entry[0] is record and entry[1] is found:
        return entry[2]
    made = _rules(found, record, model)
    if len(_made) >= MAX_MADE:
        _made.clear()
    _made[(id(record), model)] = (record, found, made)
    return made


def _rules(found: Policy, record: KeyRecord, model: str) -> RuleList:
    default = found.default
    key = "k:" + record.id
    result = RuleList()
    rpm = record.rpm if record.rpm is not None else default["requests_per_minute"]
    tpm = record.tpm if record.tpm is not None else default["tokens_per_minute"]
    rpd = default["requests_per_day"]
    if rpm:
        result.append(Rule(key + ":rpm", "requests", MINUTE, rpm))
    if tpm:
        result.append(Rule(key + ":tpm", "tokens", MINUTE, tpm))
    if rpd:
        result.append(Rule(key + ":rpd", "requests", DAY, rpd))
    concurrency = (
        record.max_concurrency if record.max_concurrency is not None else default[CONCURRENCY]
    )
    if concurrency:
        result.append(Rule(key + ":cc", "concurrency", 0, concurrency))
    group = found.groups.get(record.user_group)
    if group is not None:
        _add(result, f"g:{record.user_group}:{record.user_id}", group)
    per_model = found.models.get(model)
    if per_model is not None:
        _add(result, f"m:{len(model)}:{model}:{record.user_id}", per_model)
    return result


def _add(result: list[Rule], prefix: str, scope: Scope) -> None:
    for name, window, kind, limit in scope.limits:
        result.append(Rule(f"{prefix}:{name}", kind, window, limit))
    if scope.concurrency:
        result.append(Rule(prefix + ":cc", "concurrency", 0, scope.concurrency))


def channel_rules(channel: ChannelRecord) -> RuleList:
    """What the gateway sends one upstream at most (the channel's ``rpm``, ``tpm``,
    ``max_concurrency``): made once per channel record."""
    return channel.cached("limit rules", lambda: _channel_rules(channel))


def _channel_rules(channel: ChannelRecord) -> RuleList:
    name = "c:" + channel.id
    found = RuleList()
    if channel.rpm:
        found.append(Rule(name + ":rpm", "requests", MINUTE, channel.rpm))
    if channel.tpm:
        found.append(Rule(name + ":tpm", "tokens", MINUTE, channel.tpm))
    if channel.max_concurrency:
        found.append(Rule(name + ":cc", "concurrency", 0, channel.max_concurrency))
    return found


def cost(rule: Rule, estimate: int) -> int:
    """What one call counts against ``rule`` when it starts: 1 (a request, a call in
    flight), or its input estimate for tokens, capped at the limit: such a call passes
    alone in a window rather than never. (The Redis backend's ``TAKE`` counts alike.)"""
    return min(estimate, rule.limit) if rule.kind == "tokens" else 1


def reset(window: int, now: float) -> float:
    """Seconds from ``now`` until a window of ``window`` seconds (aligned on the clock)
    resets; 0 for a count in flight."""
    return window - now % window if window else 0.0


#: window -> (the whole second it was worked out for, ``reset_duration``'s text).
_reset_texts: dict[int, tuple[int, str]] = {}


def reset_duration(window: int, now: float) -> str:
    """``duration(reset(window, now))`` for a window of whole seconds and ``now`` >= 0,
    worked out once per window and second: rounded up, it depends on the whole seconds of
    ``now`` alone, and every call's headers write it (twice)."""
    second = int(now)
    cached = _reset_texts.get(window)
    if cached is not None and cached[0] == second:
        return cached[1]
    text = duration(reset(window, now))
    _reset_texts[window] = (second, text)
    return text


def input_estimate(body_length: int) -> int:
    """The tokens a call reserves before it goes: its input, estimated from its size."""
    return max(1, body_length // BYTES_PER_TOKEN)


def duration(seconds: float) -> str:
    """A reset time as OpenAI's headers write it: ``1s``, ``6m0s``, ``2h3m4s``."""
    # Rounded up: a client that waits this long passes.
    return _duration(max(0, int(-(-seconds // 1))))


@functools.lru_cache(maxsize=4096)
def _duration(whole: int) -> str:
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass(slots=True)
class Taken:
    """What a backend answered for a call's rules, in their order: whether the call was
    counted, each counter's count (after the call when counted), the backend's clock
    (seconds; each window's reset follows from it: ``reset``), and the backend's handles
    to give back to."""

    allowed: bool
    used: list[int]
    now: float
    handles: Any
