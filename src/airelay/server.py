"""Serving: one process per worker on a shared port, each with its own event loop (uvloop)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import signal
import sys
from typing import TYPE_CHECKING

import uvloop

from airelay.config import Settings
from airelay.memory import return_large_blocks

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


async def start(settings: Settings, *, reuse_port: bool = False) -> tuple[web.AppRunner, int]:
    """Start serving on ``settings.host``/``port`` (0 picks a free port); return the runner
    (``cleanup()`` stops it) and the bound port."""
    # Imported here: a parent of several workers never serves and never loads the app.
    from aiohttp import web

    from airelay.app import create_app
    from airelay.surfaces.protocol import PARSER_LIMITS, GatewayRunner

    return_large_blocks()
    app = create_app(settings)
    # handler_cancellation: a client that goes away cancels its handler (a non-stream
    # upstream call runs on, shielded, to be billed: relay.pipeline).
    # keepalive_timeout: aiohttp closes a connection that has not delivered a whole request
    # head this long after it opened or after its last response, however steadily it
    # trickles bytes: the client header timeout (slowloris).
    # GatewayRunner: a request the HTTP parser refuses (header or URL too long, bad bytes)
    # is answered in JSON with one log line, no traceback.
    runner = GatewayRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=settings.client_header_timeout,
        **PARSER_LIMITS,
    )
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=2048
    )
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or ()
    port = sockets[0].getsockname()[1] if sockets else settings.port
    return runner, port


async def serve_forever(settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    runner, port = await start(settings, reuse_port=reuse_port)
    # What start-up built (modules, the app, the snapshot) lives as long as the process:
    # moved out of the collector's sight, a full collection no longer walks it all.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("airelay listening on http://%s:%d", settings.host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _worker(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvloop.run(serve_forever(settings, reuse_port=True))


def run(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes (1: in this process)."""
    if settings.workers <= 1:
        uvloop.run(serve_forever(settings))
        return
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(settings,), name=f"airelay-worker-{i}")
        for i in range(settings.workers)
    ]
    for process in workers:
        process.start()

    def forward(signum: int, _frame: object) -> None:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process in workers:
        process.join()
    sys.exit(max((p.exitcode or 0) for p in workers))
