"""A call of a format that has no IR (rerank) sent to an upstream speaking another format
on the same endpoint (DashScope's native rerank): each such pair translates directly, both
ways, as a ``Bridge`` (``registry.bridge(client, upstream)``). The chat formats translate
through the IR instead; no bridge is needed between them.
"""

from __future__ import annotations

from typing import Any, Protocol

from airelay.formats.usage import Usage
from airelay.formats.wire import Request


class Bridge(Protocol):
    def request(self, request: Request, upstream_model: str) -> bytes:
        """The client's request in the upstream's format, naming ``upstream_model``."""
        ...

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        """A whole 200 answer in the client's format: its bytes, the usage it reports and
        the client-format document (to carry a count when it reports none). Raises
        ``ValueError`` for an answer of the wrong shape."""
        ...

    def error(self, status: int, body: bytes) -> bytes:
        """An upstream error (already scrubbed) in the client's error shape."""
        ...
