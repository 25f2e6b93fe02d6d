"""The front's listening side: the routes it serves, its connections, and its shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from airelay.front.connection import FrontConnection, Serving
from airelay.surfaces.protocol import GatewayRunner

# What aiohttp's runner allows the calls in flight when it stops (its default).
SHUTDOWN_SECONDS = 60.0


class FrontServer:
    """Makes a ``FrontConnection`` for each accepted connection; ``aiohttp_protocol`` makes
    aiohttp's own protocol for one the front hands over."""

    def __init__(
        self,
        app: web.Application,
        aiohttp_protocol: Callable[[], asyncio.Protocol],
        paths: Collection[str],
        *,
        max_body: int,
        header_timeout: float,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.serving = Serving(
            app,
            front_routes(app.router, paths),
            aiohttp_protocol,
            max_body,
            header_timeout,
            self.loop,
        )
        self.connections = self.serving.connections
        self._servers: list[asyncio.Server] = []

    def __call__(self) -> FrontConnection:
        return FrontConnection(self.serving)

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Accept connections on ``host``:``port`` (0: a free one); the bound port."""
        server = await self.loop.create_server(
            self, host, port, backlog=2048, reuse_port=reuse_port or None
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    @property
    def addresses(self) -> list[Any]:
        return [sock.getsockname() for server in self._servers for sock in server.sockets]

    async def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Stop accepting; close idle connections now and the others once their answer has
        ended, waiting ``timeout`` seconds at most for those (then they are cancelled)."""
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.shut()
        deadline = self.loop.time() + timeout
        while busy := {c.answering for c in self.connections if c.answering is not None}:
            left = deadline - self.loop.time()
            if left <= 0:
                for task in busy:
                    task.cancel()
                await asyncio.wait(busy)
                break
            await asyncio.wait(busy, timeout=left)  # requests read before the stop: answered
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        self._servers.clear()


Handler = Callable[[Any], Awaitable[web.StreamResponse]]


def front_routes(router: web.UrlDispatcher, paths: Collection[str]) -> dict[bytes, Handler]:
    """The wrapped ``POST`` handler of each of ``paths``, by its path as it arrives."""
    routes = {
        route.resource.canonical.encode(): route.handler
        for route in router.routes()
        if route.method == "POST"
        and route.resource is not None
        and route.resource.canonical in paths
    }
    missing = set(paths) - {path.decode() for path in routes}
    if missing:
        raise ValueError(f"no POST route for {sorted(missing)}")
    return routes


class FrontRunner(GatewayRunner):
    """The gateway's runner with a front: it accepts the connections (``front``, set once
    the runner is set up) and stops before aiohttp's own server."""

    front: FrontServer | None = None

    @property
    def addresses(self) -> list[Any]:
        own = self.front.addresses if self.front is not None else []
        return own + super().addresses

    async def cleanup(self) -> None:
        if self.front is not None:
            await self.front.shutdown()
        await super().cleanup()
