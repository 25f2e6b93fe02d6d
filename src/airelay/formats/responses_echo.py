"""What a stored Responses stream tells its client about itself: the response object in
each lifecycle event (``response.created`` ... ``response.completed``) says ``store`` and
``previous_response_id`` as the client asked, not as the upstream (which got the whole
conversation, unstored) or the translating encoder said.

Only events that carry a response object are parsed: a block is searched for the object's
member name first (bytes, C speed), and every other event goes out as it came.
"""

from __future__ import annotations

from typing import Any

import orjson

_MARKS = (b'"response":{', b'"response": {')


class StoredEcho:
    """Rewrites the blocks of a Responses stream (whole SSE events; a trailing part of an
    event goes as it came)."""

    __slots__ = ("_values",)

    def __init__(self, *, store: bool, previous_response_id: str | None) -> None:
        self._values: dict[str, Any] = {
            "store": store,
            "previous_response_id": previous_response_id,
        }

    def block(self, raw: bytes) -> bytes:
        if not any(mark in raw for mark in _MARKS):
            return raw
        events = raw.split(b"\n\n")
        return b"\n\n".join(self._event(event) for event in events)

    def _event(self, event: bytes) -> bytes:
        if not any(mark in event for mark in _MARKS):
            return event
        lines = event.split(b"\n")
        for index, line in enumerate(lines):
            if not line.startswith(b"data:"):
                continue
            try:
                data = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return event  # a part of an event: it goes as it came
            response = data.get("response") if isinstance(data, dict) else None
            if not isinstance(response, dict):
                return event
            response.update(self._values)
            lines[index] = b"data: " + orjson.dumps(data)
        return b"\n".join(lines)
