"""Anthropic's native Messages API: ``x-api-key`` and ``anthropic-version`` headers."""

from __future__ import annotations

ANTHROPIC_VERSION = "2023-06-01"


class Anthropic:
    """``base_url`` is what the Anthropic SDK takes (``https://api.anthropic.com``)."""

    wire_format = "anthropic"

    def chat_url(self, base_url: str, model: str, *, stream: bool) -> str:
        return _root(base_url) + "/v1/messages"

    def headers(self, api_key: str) -> dict[str, str]:
        return {
            "x-api-key": api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "Content-Type": "application/json",
        }


def _root(base_url: str) -> str:
    """Accept the SDK's root and also a root that already ends in ``/v1``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")
