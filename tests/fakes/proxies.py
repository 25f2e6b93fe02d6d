"""Egress proxies for tests, each an asyncio server on loopback in a daemon thread, that
record every use so a test can tell a call went through them:

- ``HttpProxy``: ``CONNECT host:port`` tunnels (what an ``https://`` upstream gets) and
  absolute-form requests forwarded as they are (what an ``http://`` upstream gets), with
  optional Basic credentials (407 without them), as RFC 9110 9.3.6 and 7.1 describe; over
  TLS when given a context (an ``https://`` proxy);
- ``Socks5Proxy``: RFC 1928 CONNECT with IPv4, IPv6 and domain-name addresses, and the
  RFC 1929 username/password method when credentials are set.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import struct
import threading
from types import TracebackType
from typing import Self


class _ThreadedServer:
    label = "proxy"

    def __init__(
        self, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.credentials = credentials
        self.tls = tls  # spoken to over TLS (an https:// proxy)
        self.port = 0
        self.refused = 0  # handshakes refused (bad or missing credentials)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.label} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        server = loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            # Tunnels still open: end them on this loop, before it closes.
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy stops
        finally:
            writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                sink.write_eof()

    try:
        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))
    finally:
        upstream_writer.close()


class HttpProxy(_ThreadedServer):
    label = "http-proxy"

    def __init__(
        self, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(credentials, tls)
        self.tunnels: list[str] = []  # CONNECT authorities
        self.forwarded: list[str] = []  # absolute-form request targets
        self.authorizations: list[str | None] = []  # Proxy-Authorization of each use

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        if self.credentials is None:
            return f"{scheme}://{self.host_port}"
        user, password = self.credentials
        return f"{scheme}://{user}:{password}@{self.host_port}"

    @property
    def uses(self) -> int:
        return len(self.tunnels) + len(self.forwarded)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        authorization = fields.get("proxy-authorization")
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if authorization != expected:
                with self._lock:
                    self.refused += 1
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                    b"Connection: close\r\n\r\n"
                )
                await writer.drain()
                return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = await asyncio.open_connection(host.strip("[]"), int(port))
            with self._lock:
                self.tunnels.append(target)
                self.authorizations.append(authorization)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _pipe(reader, writer, *upstream)
            return
        # Absolute form: forward the request (and whatever follows) to its origin as is.
        if not target.startswith("http://"):
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        authority = target.removeprefix("http://").split("/", 1)[0]
        host, _, port = authority.rpartition(":")
        upstream = await asyncio.open_connection(host.strip("[]"), int(port or 80))
        with self._lock:
            self.forwarded.append(target)
            self.authorizations.append(authorization)
        upstream[1].write(head)
        await _pipe(reader, writer, *upstream)


class Socks5Proxy(_ThreadedServer):
    label = "socks5-proxy"

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__(credentials)
        self.connects: list[tuple[str, int]] = []  # destinations, as the client named them
        self.users: list[str | None] = []

    def url(self, scheme: str = "socks5") -> str:
        if self.credentials is None:
            return f"{scheme}://{self.host_port}"
        user, password = self.credentials
        return f"{scheme}://{user}:{password}@{self.host_port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        if version != 5:
            return
        methods = await reader.readexactly(count)
        user: str | None = None
        if self.credentials is None:
            if 0 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x00")
        else:
            if 2 not in methods:
                with self._lock:
                    self.refused += 1
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            _, user_length = await reader.readexactly(2)
            user = (await reader.readexactly(user_length)).decode()
            (password_length,) = await reader.readexactly(1)
            password = (await reader.readexactly(password_length)).decode()
            if (user, password) != self.credentials:
                with self._lock:
                    self.refused += 1
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            return
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:  # CONNECT only
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            upstream = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        with self._lock:
            self.connects.append((host, port))
            self.users.append(user)
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + struct.pack("!H", 0))
        await writer.drain()
        await _pipe(reader, writer, *upstream)
