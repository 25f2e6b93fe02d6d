"""What can go wrong below HTTP statuses. A timeout is the builtin ``TimeoutError``."""

from __future__ import annotations


class UpstreamError(Exception):
    """The upstream could not be reached, or did not answer in HTTP/1.1."""


class ConnectFailed(UpstreamError):
    """No connection: refused, unreachable, name not resolved, TLS handshake failed."""


class Disconnected(UpstreamError):
    """The connection closed before the answer was complete."""


class ProtocolFailure(UpstreamError):
    """The upstream's bytes are not a valid HTTP/1.1 answer."""


class TooLarge(UpstreamError):
    """The answer's body is larger than the client accepts (``Pool(max_body=...)``)."""
