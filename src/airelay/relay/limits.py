"""The limit stage of the relay pipeline: after the caller is known and allowed, before any
money is reserved. No limits exist yet; the stage does, so that rate and concurrency limits
per key, user or model are one object passed to the pipeline, not a change to it."""

from __future__ import annotations

from typing import Protocol

from airelay.store.snapshot import KeyRecord


class Limits(Protocol):
    def check(self, record: KeyRecord, model: str) -> None:
        """Raise ``GatewayError`` (429 with ``Retry-After``) when the call is over a limit."""
        ...


class NoLimits:
    """The stage while no limits are configured: every call passes."""

    __slots__ = ()

    def check(self, record: KeyRecord, model: str) -> None:
        return None


NO_LIMITS = NoLimits()
