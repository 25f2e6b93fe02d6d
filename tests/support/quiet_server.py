"""A TCP server on loopback that accepts connections and then stays silent: for clients'
timeouts (a Redis that stops answering)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_server(greeting: bytes | None = None) -> Iterator[int]:
    """Its port. It answers nothing, or only ``greeting`` to the first bytes a connection
    sends (a subscription confirmed, then silence)."""
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
            if greeting is not None:
                conn.recv(1024)
                conn.sendall(greeting)

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
