"""The client's address behind the reverse proxies the operator trusts
(``AIRELAY_TRUSTED_PROXIES``).

Behind nginx or a load balancer every connection comes from the proxy, so a key's IP
allow-list and the console's per-address sign-in throttle would see one address for every
client. Anyone can write ``X-Forwarded-For``, so it is read only from a peer the operator
named. Each proxy appends the address it was reached from, so the header is read from the
right: the first address that is not itself a trusted proxy is the client. What lies left
of it was written by the client, and is not believed.

An entry that is no address ends the walk and is the client as it stands: an allow-list
then matches nothing (403), where falling back to the proxy's own address could match an
allow-list of the internal network. Every entry trusted (a call from inside): the
left-most. No header: the peer.

A library was looked at (aiohttp-remotes): its strict mode refuses a request whose hops do
not match the configured chain exactly, so a health check sent to an instance directly
would fail. The rule here is the usual one (nginx's ``real_ip_recursive``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Peers looked up so far (address -> trusted); cleared when this many are held.
_MEMO_SIZE = 4096
# Peers already named in the hint below (a few: proxies), forgotten when this many are held.
_HINTED: set[str] = set()
_HINTS = 64


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1, ::1"`` as networks (an address is a network of one);
    ValueError naming the entry that is neither."""
    networks = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    if not networks:
        raise ValueError("no IP address or network given")
    return tuple(networks)


class TrustedProxies:
    """Which peers may say who the client is, and the client they name."""

    __slots__ = ("_memo", "_networks")

    def __init__(self, networks: Iterable[Network]) -> None:
        self._networks = tuple(networks)
        self._memo: dict[str, bool] = {}

    def trusts(self, address: str) -> bool:
        trusted = self._memo.get(address)
        if trusted is None:
            ip = _address(address)
            trusted = ip is not None and any(ip in net for net in self._networks)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[address] = trusted
        return trusted

    def client(self, peer: str | None, forwarded: Iterable[str]) -> str | None:
        """The client of a request from ``peer`` that carried the ``X-Forwarded-For``
        field values ``forwarded`` (each a comma-separated list)."""
        if peer is None or not self.trusts(peer):
            return peer
        return self._named(peer, forwarded)

    def rewrite(self, request: web.Request) -> web.Request:
        """``request``, or a clone of it whose ``remote`` is the client the proxy names."""
        peer = request.remote
        if peer is None or not self.trusts(peer):
            return request
        client = self._named(peer, request.headers.getall("X-Forwarded-For", ()))
        if client == peer:
            return request
        # Headers, body and match info are shared: only what ``remote`` answers changes.
        # (A request too malformed to reach a handler is logged with its peer.)
        return request.clone(remote=client)

    def _named(self, peer: str, forwarded: Iterable[str]) -> str:
        entries = [entry.strip() for value in forwarded for entry in value.split(",")]
        entries = [entry for entry in entries if entry]
        if not entries:
            return peer
        for entry in reversed(entries):
            ip = _address(entry)
            if ip is None:
                return entry
            if not self.trusts(str(ip)):
                return str(ip)
        return str(_address(entries[0]))


def hint_untrusted(peer: str | None) -> None:
    """Logged once per peer: an IP allow-list refused a request that came with
    X-Forwarded-For while no proxy is trusted, so it judged the peer (maybe a proxy) rather
    than the client. Called only on such a refusal, never on a request's usual path."""
    if peer is None or peer in _HINTED:
        return
    if len(_HINTED) >= _HINTS:
        _HINTED.clear()
    _HINTED.add(peer)
    log.warning(
        "a key's IP allow-list refused a request from %s that carried X-Forwarded-For; "
        "if %s is a reverse proxy, name it in AIRELAY_TRUSTED_PROXIES so that the client "
        "it forwards is checked instead",
        peer,
        peer,
    )


def _address(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An entry of X-Forwarded-For as an address; some proxies add a port
    (``203.0.113.7:41234``, ``[2001:db8::1]:41234``)."""
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        pass
    if entry.startswith("["):
        host, closed, _ = entry[1:].partition("]")
        if not closed:
            return None
    else:
        host, colon, _ = entry.rpartition(":")
        if not colon or "." not in host:  # (an IPv6 address with a port has brackets)
            return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
