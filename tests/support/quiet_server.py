"""TCP servers on loopback for clients' timeouts: one that accepts connections and then
stays silent (a Redis that stops answering), and one that answers each PING late (a Redis
whose answer arrives while the client is busy)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def _serving(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """Its port; ``handle`` gets each accepted connection (in the server's thread) and the
    event set when the server stops."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = server.accept()[0]
            except TimeoutError:
                continue
            held.append(conn)
            handle(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def quiet_server(greeting: bytes | None = None) -> Iterator[int]:
    """Its port. It answers nothing, or only ``greeting`` to the first bytes a connection
    sends (a subscription confirmed, then silence)."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        if greeting is not None:
            conn.recv(1024)
            conn.sendall(greeting)

    with _serving(handle) as port:
        yield port


@contextmanager
def late_pong_server(delay: float) -> Iterator[int]:
    """Its port. It answers each PING of a connection with PONG ``delay`` seconds after it
    came, one connection at a time."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(0.1)
        while not stop.is_set():
            try:
                data = conn.recv(1024)
            except TimeoutError:
                continue
            if not data:
                return
            for _ in range(data.count(b"PING")):
                time.sleep(delay)
                conn.sendall(b"+PONG\r\n")

    with _serving(handle) as port:
        yield port
