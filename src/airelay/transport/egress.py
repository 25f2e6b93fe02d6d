"""A channel's way out for the requests the gateway makes on its behalf besides its relayed
calls: the access-token requests of Vertex AI service accounts and Entra ID applications.

Why: a channel that needs a proxy or a CA of its own to reach its upstream (a network that
lets nothing out but through the proxy, a TLS-inspecting proxy whose CA replaces the
system's) needs them just as much to reach its token endpoint. So a token request takes
exactly the relayed calls' way: the channel's ``proxy`` (else the environment's when the
operator opted in and ``NO_PROXY`` does not name the *token endpoint's* host), and the
channel's TLS options (CA bundle, ``verify``, client certificate), through the same
transports (``Transports.route``). No address rule applies that the relayed calls do not
have: the endpoint's URL comes from the channel's key, which only an operator writes, as
its ``base_url``.

``ChannelEgress`` is what ``providers.base.Egress`` asks for (providers know no HTTP
client): equal for channels with the same proxy and TLS options, so that a key's token is
shared by them and fetched once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airelay.client import Timeouts, post_target
from airelay.transport.base import send_whole
from airelay.transport.options import TlsOptions

if TYPE_CHECKING:
    from airelay.transport.choice import Transports

#: A token endpoint answers in well under a second; these only bound a stuck one.
TOKEN_TIMEOUTS = Timeouts(connect=10.0, read=30.0, total=60.0)


@dataclass(frozen=True, slots=True)
class Reply:
    """A token endpoint's whole answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class ChannelEgress:
    """The way out of every channel with this ``proxy`` and ``tls`` (None: the defaults)."""

    transports: Transports
    # Never shown: a proxy URL may hold its password, the options a client key.
    proxy: str | None = field(repr=False)
    tls: TlsOptions | None = field(repr=False)

    async def post(self, url: str, body: bytes, fields: Mapping[str, str]) -> Reply:
        """POST ``body`` to ``url`` the channel's way and read the whole answer. Raises
        ``ValueError`` (a URL that cannot be sent), ``TimeoutError`` or an
        ``airelay.client.UpstreamError`` (``ConnectFailed`` for a TLS handshake that
        failed), as a relayed call would."""
        transport = self.transports.route(self.proxy, self.tls, url)
        response, answer = await send_whole(
            transport, post_target(url, fields), body, TOKEN_TIMEOUTS
        )
        return Reply(response.status, response.headers, answer)
