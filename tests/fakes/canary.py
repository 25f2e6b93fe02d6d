"""A canary listener for SSRF tests: a plain TCP server on 127.0.0.1 and [::1] (same port
when the system allows) that counts every connection it accepts and answers each with a
small valid PNG over HTTP, so that a fetch that should have been refused would succeed
(and be noticed twice: by the count and by the fetch's result)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e5276ea90000000049454e44ae426082"
)
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
    + str(len(PNG)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + PNG
)


class Canary:
    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.has_ipv6 = False
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Self:
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("127.0.0.1", 0))
        self.port = v4.getsockname()[1]
        self._sockets.append(v4)
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", self.port))
            self._sockets.append(v6)
            self.has_ipv6 = True
        except OSError:
            pass
        for sock in self._sockets:
            sock.listen(16)
            sock.setblocking(False)
        self._thread = threading.Thread(target=self._serve, name="canary", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def reset(self) -> None:
        with self._lock:
            self.connections = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in self._sockets:
            selector.register(sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    listening: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        conn, _ = listening.accept()
                    except BlockingIOError:
                        continue
                    with self._lock:
                        self.connections += 1
                    self._answer(conn)
        finally:
            selector.close()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        try:
            conn.settimeout(1.0)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            conn.sendall(ANSWER)
        except OSError:
            pass
        finally:
            conn.close()
