"""Opening a connection: names resolved through a small cache, addresses tried the happy
eyeballs way (RFC 8305), and an optional check on every address before it is dialled.

Why a cache: the system resolver runs in a thread and costs a round trip per lookup, and a
burst of new connections to one upstream would repeat the same query hundreds of times.
Answers are kept ``ttl`` seconds (short enough to follow a moved upstream; a connection
that fails forgets the name at once), and concurrent lookups of one name share one query.

Why happy eyeballs: an upstream whose name has an IPv6 address that does not route would
otherwise cost the whole connect timeout before IPv4 is tried. Here the next address is
tried after ``HAPPY_EYEBALLS_DELAY`` while the first attempt goes on, families alternating.

The address check (``allowed``) sees each resolved address, whatever spelling the URL used
(a name, a literal, ``2130706433``...), and the socket connects to exactly the addresses
that passed it: what the image fetch relies on to keep to public addresses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohappyeyeballs

from airelay.client.errors import ConnectFailed

AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
# (address, port) -> may a socket connect there.
AddressCheck = Callable[[str, int], bool]
Lookup = Callable[[str, int], Awaitable[list[AddrInfo]]]

HAPPY_EYEBALLS_DELAY = 0.25  # RFC 8305's recommended "connection attempt delay"
DNS_TTL = 60.0


class Resolver:
    """Host and port to addresses, cached for ``ttl`` seconds per name.

    ``lookup`` answers a query (default: the system resolver via the loop); tests give one
    that returns chosen addresses."""

    def __init__(self, ttl: float = DNS_TTL, lookup: Lookup | None = None) -> None:
        self.ttl = ttl
        self._lookup = lookup or _system_lookup
        self._cache: dict[tuple[str, int], tuple[float, list[AddrInfo]]] = {}
        self._pending: dict[tuple[str, int], asyncio.Task[list[AddrInfo]]] = {}

    async def resolve(self, host: str, port: int) -> list[AddrInfo]:
        key = (host, port)
        now = asyncio.get_running_loop().time()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        task = self._pending.get(key)
        if task is None:
            task = self._pending[key] = asyncio.get_running_loop().create_task(self._query(key))
            task.add_done_callback(_retrieve)
        # Shielded: a caller that gives up does not cancel the query the others wait for.
        return await asyncio.shield(task)

    def forget(self, host: str, port: int) -> None:
        """Drop the cached answer (its addresses did not answer)."""
        self._cache.pop((host, port), None)

    async def _query(self, key: tuple[str, int]) -> list[AddrInfo]:
        try:
            infos = await self._lookup(*key)
            if not infos:
                raise ConnectFailed(f"no address for {key[0]}")
            if len(self._cache) > 1024:  # names come from configuration: few; but bounded
                self._cache.clear()
            self._cache[key] = (asyncio.get_running_loop().time() + self.ttl, infos)
            return infos
        finally:
            del self._pending[key]


def _retrieve(task: asyncio.Task[list[AddrInfo]]) -> None:
    """Take a failed query's exception, so that one nobody awaits any more (its callers
    gave up) is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _system_lookup(host: str, port: int) -> list[AddrInfo]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:  # socket.gaierror
        raise ConnectFailed(f"{host} could not be resolved: {exc}") from exc
    return [(int(f), int(t), p, c, a) for f, t, p, c, a in infos]


async def open_socket(infos: list[AddrInfo], allowed: AddressCheck | None) -> socket.socket:
    """A connected socket to the first of ``infos`` that answers (happy eyeballs), among
    those ``allowed`` accepts; raises ``ConnectFailed``."""
    if allowed is not None:
        infos = [info for info in infos if allowed(str(info[4][0]), int(info[4][1]))]
        if not infos:
            raise ConnectFailed("no address the connection may use")
    try:
        return await aiohappyeyeballs.start_connection(
            infos, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY, interleave=1
        )
    except OSError as exc:
        raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
