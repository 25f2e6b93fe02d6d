"""Ways out for provider tests that build requests without a gateway: ``DIRECT`` sends a
token request straight to its (loopback) endpoint, ``NOWHERE`` is for providers that make
no request of their own (it fails the test if one is made)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from airelay.transport.egress import Reply


class _Direct:
    """An aiohttp session per request: no proxy, the system's trust store."""

    async def post(self, url: str, body: bytes, fields: Mapping[str, str]) -> Reply:
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.post(url, data=body, headers=fields) as response,
        ):
            headers = {name.lower(): value for name, value in response.headers.items()}
            return Reply(response.status, headers, await response.read())


class _Nowhere:
    async def post(self, url: str, body: bytes, fields: Mapping[str, str]) -> Reply:
        raise AssertionError("this provider makes no request of its own")


DIRECT = _Direct()
NOWHERE = _Nowhere()
