"""The access log: one JSON line per request on the ``airelay.access`` logger, when
``AIRELAY_ACCESS_LOG`` is on.

The line holds what an operator correlates calls with (request id, key id, model, channel,
status, duration, tokens) and nothing a client sent as content: no prompt, no header, no
query string (``?key=`` carries a secret), no key. The route wrapper opens a record per
request in a context variable; the relay's meter fills in key, model, channel and tokens
as it learns them (a task the request starts shares the record). Off, it costs one global
read per request and per meter step.
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass

import orjson

log = logging.getLogger("airelay.access")


class _Switch:
    on = False


SWITCH = _Switch()


@dataclass(slots=True)
class AccessRecord:
    key_id: str | None = None
    model: str | None = None
    channel: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


CURRENT: contextvars.ContextVar[AccessRecord | None] = contextvars.ContextVar(
    "airelay_access", default=None
)


def configure(enabled: bool) -> None:
    """Turn the access log on or off for this process (at start-up)."""
    SWITCH.on = enabled
    if enabled and log.level == logging.NOTSET:
        log.setLevel(logging.INFO)


def opened() -> AccessRecord | None:
    """A record for the request starting now, or None when the log is off."""
    if not SWITCH.on:
        return None
    record = AccessRecord()
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
    """Log the request's line; ``path`` without its query string."""
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
