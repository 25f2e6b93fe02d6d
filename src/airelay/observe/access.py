"""The access log: one JSON line per request on the ``airelay.access`` logger, when
``AIRELAY_ACCESS_LOG`` is on; and the same record as an OpenTelemetry span per relayed call,
when traces are on (``airelay.observe.tracing``).

The line holds what an operator correlates calls with (request id, key id, model, channel,
status, duration, tokens) and nothing a client sent as content: no prompt, no header, no
query string (``?key=`` carries a secret), no key. The route wrapper opens a record per
request in a context variable; the relay's meter fills in key, model, channel and tokens
as it learns them (a task the request starts shares the record). Both off, it costs one
global read per request and per meter step.
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass

import orjson

from airelay.observe.tracing import Tracing

log = logging.getLogger("airelay.access")


class _Switch:
    on = False  # a record is kept per request (the log or traces are on)
    log = False
    tracing: Tracing | None = None


SWITCH = _Switch()


@dataclass(slots=True)
class AccessRecord:
    key_id: str | None = None
    model: str | None = None
    channel: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    started_ns: int = 0  # wall clock, for the span (traces on)


CURRENT: contextvars.ContextVar[AccessRecord | None] = contextvars.ContextVar(
    "airelay_access", default=None
)


def configure(enabled: bool, tracing: Tracing | None = None) -> None:
    """Turn the access log, and traces, on or off for this process (at start-up)."""
    SWITCH.log = enabled
    SWITCH.tracing = tracing
    SWITCH.on = enabled or tracing is not None
    if enabled and log.level == logging.NOTSET:
        log.setLevel(logging.INFO)


def stop_tracing(tracing: Tracing) -> None:
    """No more spans to ``tracing`` (its app is stopping); the access log stays as it is."""
    if SWITCH.tracing is tracing:
        SWITCH.tracing = None
        SWITCH.on = SWITCH.log


def opened() -> AccessRecord | None:
    """A record for the request starting now, or None when the log is off."""
    if not SWITCH.on:
        return None
    record = AccessRecord(started_ns=time.time_ns() if SWITCH.tracing is not None else 0)
    CURRENT.set(record)
    return record


def note_call(key_id: str, model: str) -> None:
    record = CURRENT.get() if SWITCH.on else None
    if record is not None:
        record.key_id = key_id
        record.model = model


def note_usage(channel_id: str | None, prompt_tokens: int, completion_tokens: int) -> None:
    record = CURRENT.get() if SWITCH.on else None
    if record is not None:
        record.channel = channel_id
        record.prompt_tokens = prompt_tokens
        record.completion_tokens = completion_tokens


def write(
    record: AccessRecord,
    *,
    request_id: str,
    method: str,
    path: str,
    surface: str,
    status: int,
    seconds: float,
) -> None:
    """Log the request's line (``path`` without its query string), and its span when it
    relayed a call (a model was named) and traces are on."""
    tracing = SWITCH.tracing
    if tracing is not None and record.model is not None:
        tracing.call(
            surface=surface,
            method=method,
            request_id=request_id,
            status=status,
            started_ns=record.started_ns,
            ended_ns=record.started_ns + int(seconds * 1e9),
            key_id=record.key_id,
            model=record.model,
            channel=record.channel,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
        )
    if not SWITCH.log:
        return
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_id": request_id,
        "method": method,
        "path": path,
        "surface": surface,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "key_id": record.key_id,
        "model": record.model,
        "channel": record.channel,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
    }
    log.info("%s", orjson.dumps(line).decode())
