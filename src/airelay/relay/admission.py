"""How many relay calls one process carries at once: above the cap, a new call is refused
with 503 and ``Retry-After`` at once, rather than queued without bound.

A plain counter (one event loop per process, so no lock): a call enters before it reserves
money or calls an upstream, and leaves when its answer is written or its stream ends.
"""

from __future__ import annotations

from airelay.errors import GatewayError

RETRY_AFTER_SECONDS = "1"


class Admission:
    __slots__ = ("inflight", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflight = 0

    def enter(self) -> None:
        """Count a call in, or raise 503 when the process carries ``limit`` already."""
        if self.inflight >= self.limit:
            raise GatewayError(
                503,
                "The gateway is at capacity; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        self.inflight += 1

    def leave(self) -> None:
        self.inflight -= 1
