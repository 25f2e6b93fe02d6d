"""The small interface every upstream adapter implements."""

from __future__ import annotations

from typing import Protocol


class Provider(Protocol):
    """How to reach one kind of upstream: URLs, auth headers, wire format."""

    #: The wire format the upstream speaks (``openai``, later ``anthropic``, ``gemini``).
    wire_format: str

    def chat_url(self, base_url: str, model: str, *, stream: bool) -> str:
        """The URL of a chat call for ``model`` on an upstream rooted at ``base_url``."""
        ...

    def headers(self, api_key: str) -> dict[str, str]:
        """Request headers carrying the upstream key."""
        ...
