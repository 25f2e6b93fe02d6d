"""Anthropic's native Messages API: ``x-api-key`` and ``anthropic-version`` headers.

A client's ``anthropic-beta`` header (Claude Code sends several betas on every call) and the
``?beta=true`` query the SDKs' beta namespace adds are passed on (``forward``), after the
channel's ``anthropic_betas`` rules; the free ``count_tokens`` endpoint has a head of its
own (``count_tokens_head``).
"""

from __future__ import annotations

from collections.abc import Mapping

from airelay.formats.anthropic_betas import HEADER, beta_names, joined, rewritten
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import ChannelOptions, ClientExtras, Forward, Head, Plain, unserved

ANTHROPIC_VERSION = "2023-06-01"
#: The one query the Messages API is sent with, when the client's call had it.
BETA_QUERY = "beta=true"


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
        return Head(_root(base_url) + "/v1/messages", _fields(key))

    def count_tokens_head(self, base_url: str, key: str) -> Head:
        """``POST /v1/messages/count_tokens``: free, and the upstream's own count."""
        return Head(_root(base_url) + "/v1/messages/count_tokens", _fields(key))

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        """The client's betas after the channel's rules, and its ``beta=true`` query."""
        query = BETA_QUERY if extras.query.get("beta") == "true" else ""
        fields: dict[str, str] = {}
        header = extras.fields.get(HEADER)
        if header:
            # The surface checked the names; a rule's replacement was checked when stored.
            names = rewritten(beta_names(header), channel.anthropic_betas)
            if names:
                fields[HEADER] = joined(names)
        if not fields and not query:
            return None
        return Forward(fields, query)


def _fields(key: str) -> dict[str, str]:
    return {
        "x-api-key": key,
        "anthropic-version": ANTHROPIC_VERSION,
        "Content-Type": "application/json",
    }


def _root(base_url: str) -> str:
    """Accept the SDK's root and also a root that already ends in ``/v1``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")
