"""Anthropic's native Messages API: ``x-api-key`` and ``anthropic-version`` headers."""

from __future__ import annotations

from collections.abc import Mapping

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import Head, Plain, unserved

ANTHROPIC_VERSION = "2023-06-01"


class Anthropic(Plain):
    """``base_url`` is what the Anthropic SDK takes (``https://api.anthropic.com``)."""

    formats: Mapping[Endpoint, WireFormat] = {Endpoint.CHAT: WireFormat.ANTHROPIC}
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    default_endpoints: frozenset[Endpoint] = endpoints
    framing = Framing.SSE

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.CHAT:
            raise unserved(self, endpoint)
        headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "Content-Type": "application/json",
        }
        return Head(_root(base_url) + "/v1/messages", headers)


def _root(base_url: str) -> str:
    """Accept the SDK's root and also a root that already ends in ``/v1``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")
