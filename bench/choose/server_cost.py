"""What aiohttp's HTTP server costs the gateway per call, against a bare HTTP/1.1 protocol:
the same pass-through as ``bench/floor.py``, forwarding with the gateway's own upstream
client (``airelay.client``), served by aiohttp.web (``aiohttp``) or by an
``asyncio.Protocol`` on uvloop that parses requests with httptools and writes its answers
straight to the transport (``bare``). Only the server differs between the two, so the
difference in CPU per call is what a server of the gateway's own would save on its hot
routes. The aiohttp floor (``bench/floor.py``, aiohttp's client too) is measured beside
them, as ``make bench`` measures it.

    .venv/bin/python bench/choose/server_cost.py [--rounds 7] [--seconds 3]

The bare protocol is a measuring device, not a server: keep-alive, Content-Length and
chunked request bodies, one request at a time per connection, nothing else (no
pipelining, no limits, no timeouts). Needs wrk and taskset; pins as ``make bench`` does
(servers on the first core, the fake upstream and wrk on the second). Prints each round's
CPU µs per call (utime + stime of the server over wrk's requests), then the median per
server and kind. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

import httptools
import uvloop
from aiohttp import web

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

from airelay.client.pool import Pool, Timeouts  # noqa: E402
from airelay.client.target import Target, post_target  # noqa: E402

TIMEOUTS = Timeouts(connect=10, read=300)


class Bare(asyncio.Protocol):
    """One client connection: requests parsed by httptools, each forwarded once whole, its
    answer written back (Content-Length, or chunked as the upstream's bytes arrive)."""

    def __init__(self, pool: Pool, target: Target) -> None:
        self._pool = pool
        self._target = target
        self._parser = httptools.HttpRequestParser(self)
        self._body: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # (uvloop's: not a subclass)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self._transport.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        self._body = []
        assert self._transport is not None
        self._transport.pause_reading()  # one request at a time
        asyncio.get_running_loop().create_task(self._answer(body))

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def _answer(self, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        answer = await self._pool.send(self._target, body)
        ctype = answer.headers.get("content-type", "application/json").encode("latin-1")
        status = b"%d" % answer.status
        if "content-length" in answer.headers:
            whole = await answer.read()
            answer.release()
            transport.write(
                b"HTTP/1.1 %b OK\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
                % (status, ctype, len(whole), whole)
            )
        else:
            head = b"HTTP/1.1 %b OK\r\nContent-Type: %b\r\nTransfer-Encoding: chunked\r\n\r\n" % (
                status,
                ctype,
            )
            while True:
                chunk = await answer.readany()
                if not chunk:
                    break
                transport.write(b"%b%x\r\n%b\r\n" % (head, len(chunk), chunk))
                head = b""
                if self._writable is not None:
                    await self._writable
            answer.release()
            transport.write(head + b"0\r\n\r\n")
        if not transport.is_closing():
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def aiohttp_app(pool: Pool, target: Target) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = await pool.send(target, body)
        headers = {"Content-Type": answer.headers.get("content-type", "application/json")}
        if "content-length" in answer.headers:
            whole = await answer.read()
            answer.release()
            return web.Response(status=answer.status, body=whole, headers=headers)
        response = web.StreamResponse(status=answer.status, headers=headers)
        await response.prepare(request)
        while True:
            chunk = await answer.readany()
            if not chunk:
                break
            await response.write(chunk)
        answer.release()
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def serve(kind: str, port: int, upstream: str) -> None:
    pool = Pool(TIMEOUTS)
    target = post_target(upstream, {"Content-Type": "application/json"})
    if kind == "bare":
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: Bare(pool, target), "127.0.0.1", port, backlog=2048)
    else:
        runner = web.AppRunner(
            aiohttp_app(pool, target), handler_cancellation=True, access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
    await asyncio.Event().wait()


def measure(args: argparse.Namespace) -> None:
    import procs
    import wrk
    from run import cores

    cpu = cores()
    work = Path(tempfile.mkdtemp(prefix="airelay-server-cost-"))
    up_port = procs.free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1/chat/completions"
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    own = [sys.executable, __file__, "--upstream", upstream, "--serve"]
    commands = {
        "floor": [sys.executable, str(BENCH / "floor.py"), "--upstream", upstream, "--port"],
        "aiohttp": [*own, "aiohttp", "--port"],
        "bare": [*own, "bare", "--port"],
    }
    up = procs.start(
        [sys.executable, str(BENCH / "upstream.py"), "--port", str(up_port)],
        cpu.load,
        work / "up.log",
    )
    try:
        procs.wait_port(up_port, up)
        for name, command in commands.items():
            port = procs.free_port()
            proc = procs.start([*command, str(port)], cpu.server, work / f"{name}.log")
            procs.wait_port(port, proc)
            started[name] = (proc, port)
        scripts = wrk.write_scripts(work, "unused")
        figures: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            for kind in args.kinds.split(","):
                for name, (proc, port) in started.items():
                    before = procs.cpu_seconds([proc.pid])
                    result = wrk.run(scripts[kind], port, 32, args.seconds, cpu.load)
                    spent = procs.cpu_seconds([proc.pid]) - before
                    micros = spent / max(1, result.requests) * 1e6
                    figures.setdefault((name, kind), []).append(micros)
                    rate = f"{result.rps:,.0f} req/s"
                    print(f"round {round_} {kind} {name}: {rate}, {micros:.0f} µs/call", flush=True)
        for (name, kind), values in sorted(figures.items(), key=lambda item: item[0][::-1]):
            median, least = statistics.median(values), min(values)
            print(f"{kind} {name}: median {median:.0f}, min {least:.0f} µs/call")
    finally:
        for proc, _ in started.values():
            procs.stop(proc)
        procs.stop(up)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=3, help="each wrk run (c32)")
    parser.add_argument("--kinds", default="plain,stream", help="wrk kinds, comma-separated")
    parser.add_argument("--serve", choices=("aiohttp", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.port, args.upstream))
    else:
        measure(args)


if __name__ == "__main__":
    main()
