"""A lean HTTP/1.1 client for the relay's upstream calls (see ``pool``)."""

from airelay.client.errors import (
    ConnectFailed,
    Disconnected,
    ProtocolFailure,
    TooLarge,
    UpstreamError,
)
from airelay.client.pool import Pool, Timeouts
from airelay.client.response import Response
from airelay.client.target import Target, post_target

__all__ = [
    "ConnectFailed",
    "Disconnected",
    "Pool",
    "ProtocolFailure",
    "Response",
    "Target",
    "Timeouts",
    "TooLarge",
    "UpstreamError",
    "post_target",
]
