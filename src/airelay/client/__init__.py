"""A lean HTTP/1.1 client for the relay's upstream calls (see ``pool``)."""

from airelay.client.dial import AddressCheck, Resolver
from airelay.client.errors import (
    ConnectFailed,
    Disconnected,
    ProtocolFailure,
    TooLarge,
    UpstreamError,
)
from airelay.client.pool import Pool, Timeouts
from airelay.client.response import Response
from airelay.client.target import Target, post_target, request_target

__all__ = [
    "AddressCheck",
    "ConnectFailed",
    "Disconnected",
    "Pool",
    "ProtocolFailure",
    "Resolver",
    "Response",
    "Target",
    "Timeouts",
    "TooLarge",
    "UpstreamError",
    "post_target",
    "request_target",
]
