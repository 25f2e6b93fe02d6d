"""Ollama's native API (``/api/chat``): the model is in the body, streams come as
newline-delimited JSON (``application/x-ndjson``), and a local server needs no key.

``base_url`` is the server's root (``http://127.0.0.1:11434``; a trailing ``/api`` is
tolerated). A channel may hold no key: requests then carry no ``Authorization`` field; a
key, when set (a server behind an authenticating proxy, or ollama.com), goes as a Bearer.
"""

from __future__ import annotations

from collections.abc import Mapping

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import Head, Plain, unserved


class Ollama(Plain):
    formats: Mapping[Endpoint, WireFormat] = {Endpoint.CHAT: WireFormat.OLLAMA}
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    default_endpoints: frozenset[Endpoint] = endpoints
    framing = Framing.NDJSON
    key_required = False

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.CHAT:
            raise unserved(self, endpoint)
        root = base_url.rstrip("/").removesuffix("/api")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = "Bearer " + key
        return Head(root + "/api/chat", headers)
