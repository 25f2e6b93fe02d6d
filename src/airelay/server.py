"""Serving: one process per worker on a shared port, each with its own event loop (uvloop)."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from typing import TYPE_CHECKING

import uvloop

from airelay import __version__
from airelay.config import Settings
from airelay.memory import return_large_blocks

if TYPE_CHECKING:
    from aiohttp import web

    from airelay.surfaces.protocol import GatewayRunner

log = logging.getLogger(__name__)

# prometheus-client's variable; the same name as ``airelay.observe.metrics.MULTIPROC_ENV``
# (not imported: the parent of several workers loads no more than it needs).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Container objects allocated (net of those freed) between two young-generation collections;
# CPython's default is 700. Calls in flight hold thousands of live objects (requests, IR
# events, parsed JSON), so the default was passed every call or two, and each collection
# walked objects that were all still alive; refcounting frees nearly everything else. Measured
# beside the default, one worker: CPU per streamed call 8-13 µs lower (of 250-350 µs), idle
# RSS within its run-to-run noise.
YOUNG_COLLECTION_THRESHOLD = 20_000


async def start(settings: Settings, *, reuse_port: bool = False) -> tuple[GatewayRunner, int]:
    """Start serving on ``settings.host``/``port`` (0 picks a free port); return the runner
    (``cleanup()`` stops it) and the bound port."""
    # Imported here: a parent of several workers never serves and never loads the app.
    from aiohttp import web

    from airelay.app import create_app
    from airelay.front.server import FrontRunner, FrontServer
    from airelay.routes import front_paths
    from airelay.surfaces.protocol import PARSER_LIMITS, GatewayRunner

    return_large_blocks()
    app = create_app(settings)
    # handler_cancellation: a client that goes away cancels its handler (a non-stream
    # upstream call runs on, shielded, to be billed: relay.pipeline).
    # keepalive_timeout: aiohttp closes a connection that has not delivered a whole request
    # head this long after it opened or after its last response, however steadily it
    # trickles bytes: the client header timeout (slowloris).
    # GatewayRunner: a request the HTTP parser refuses (header or URL too long, bad bytes)
    # is answered in JSON with one log line, no traceback. FrontRunner: the same, behind
    # the gateway's own front for the relay's busiest routes (``airelay.front``).
    runner = (FrontRunner if settings.http_front else GatewayRunner)(
        app,
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=settings.client_header_timeout,
        **PARSER_LIMITS,
    )
    await runner.setup()
    if isinstance(runner, FrontRunner):
        assert runner.server is not None  # set up above
        runner.front = FrontServer(
            app,
            runner.server,
            front_paths(),
            max_body=settings.max_body_bytes,
            header_timeout=settings.client_header_timeout,
        )
        port = await runner.front.listen(settings.host, settings.port, reuse_port=reuse_port)
        return runner, port
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=2048
    )
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or ()
    port = sockets[0].getsockname()[1] if sockets else settings.port
    return runner, port


def base_url(host: str, port: int) -> str:
    """``http://host:port`` for a bound address: an IPv6 host in brackets (its zone's ``%``
    written ``%25``, RFC 6874)."""
    if ":" in host:
        return f"http://[{host.replace('%', '%25')}]:{port}"
    return f"http://{host}:{port}"


def console_url(host: str, port: int) -> str:
    """Where a browser on this machine opens the console: a wildcard address (all
    interfaces) is reached through loopback."""
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a name, not an address
        unspecified = False
    if unspecified:
        host = "::1" if ":" in host else "127.0.0.1"
    return base_url(host, port) + "/console/"


def announcement(runner: web.AppRunner, settings: Settings, port: int) -> str:
    """The line that says where the gateway answers, from the socket as bound (the port
    the system picked for port 0)."""
    addresses = runner.addresses
    host = str(addresses[0][0]) if addresses else settings.host
    return (
        f"airelay {__version__} serving on {base_url(host, port)} "
        f"(console: {console_url(host, port)})"
    )


async def serve_forever(
    settings: Settings, *, reuse_port: bool = False, announce: bool = False
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; ``announce``: print where
    (once bound) for the operator who started it."""
    runner, port = await start(settings, reuse_port=reuse_port)
    line = announcement(runner, settings, port)
    if announce:
        print(line, flush=True)
    # What start-up built (modules, the app, the snapshot) lives as long as the process:
    # moved out of the collector's sight, a full collection no longer walks it all.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("%s", line)
    try:
        await stop.wait()
    finally:
        _drain(runner)
        await runner.cleanup()


def _drain(runner: web.AppRunner) -> None:
    """Shutting down: ``GET /ready`` answers 503 while calls in flight finish."""
    from airelay.state import STATE

    if runner.app is not None and STATE in runner.app:
        runner.app[STATE].draining = True


def _worker(settings: Settings, announce: bool) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _serve(settings, reuse_port=True, announce=announce)


def _serve(settings: Settings, *, reuse_port: bool = False, announce: bool = True) -> None:
    """Serve in this process; a start-up refusal (the schema is not this code's) ends it
    with its message and exit status 1, not a traceback."""
    try:
        uvloop.run(serve_forever(settings, reuse_port=reuse_port, announce=announce))
    except Exception as exc:
        from airelay.store.schema import SchemaMismatch

        if not isinstance(exc, SchemaMismatch):
            raise
        print(f"airelay: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def run(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes (1: in this process)."""
    if settings.workers <= 1:
        _serve(settings)
        return
    # The workers' metrics live in files in one directory, which GET /metrics of any
    # worker sums (prometheus-client's multiprocess mode): a fresh one per start, unless
    # the operator named one (then it is emptied: values of an earlier run would add up).
    metrics_dir = os.environ.get(MULTIPROC_ENV)
    owned = not metrics_dir
    if metrics_dir:
        _empty(metrics_dir)
    else:
        metrics_dir = tempfile.mkdtemp(prefix="airelay-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    context = multiprocessing.get_context("spawn")
    # The first worker says where they serve (they share the port).
    workers = [
        context.Process(target=_worker, args=(settings, i == 0), name=f"airelay-worker-{i}")
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
    if owned:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(max((p.exitcode or 0) for p in workers))


def _empty(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))
