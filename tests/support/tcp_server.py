"""A TCP server on a free loopback port for client tests: subclasses write ``_serve``."""

from __future__ import annotations

import asyncio
from typing import Self


class LoopbackServer:
    """``async with`` starts it on 127.0.0.1 and closes it; ``port`` is where it listens."""

    server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
