"""The front in a whole gateway: ``AIRELAY_HTTP_FRONT`` decides who serves the relay's
routes, the management API is aiohttp's either way, and ``serve`` says where it answers."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest
from support.databases import sqlite_url
from support.gateway import Gateway

from airelay.server import announcement

# A relay call refused before any upstream (no such key): answered in OpenAI's shape.
CALL = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer sk-nope\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


def _answers(port: int, data: bytes) -> list[int]:
    """The status of every answer to ``data`` sent in one write, until the gateway closes
    the connection (or goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(data)
        received = b""
        try:
            while received.count(b"HTTP/1.1 ") < data.count(b"HTTP/1.1\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


@pytest.mark.parametrize("front", [True, False])
def test_the_setting_decides_who_serves_the_relays_routes(tmp_path: Path, front: bool) -> None:
    """A call and a health check in one write: aiohttp answers both; the front answers the
    call and closes the connection, the health check unread (the client retries it)."""
    with Gateway(sqlite_url(tmp_path), tmp_path, http_front=front) as running:
        assert _answers(running.port, CALL + CALL) == [401, 401]
        health = b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n"
        assert _answers(running.port, CALL + health) == ([401] if front else [401, 200])
        # One at a time, a connection serves any number of calls either way.
        with httpx.Client(base_url=running.url) as client:
            for _ in range(3):
                answer = client.post(
                    "/v1/chat/completions", json={}, headers={"Authorization": "Bearer sk-nope"}
                )
                assert answer.status_code == 401
                assert answer.json()["error"]["message"]
                assert answer.headers["x-request-id"]
            # The management API on the same connection, then a call again.
            listed = client.get(
                "/v1/admin/users", headers={"Authorization": f"Bearer {running.admin_key}"}
            )
            assert listed.status_code == 200
            again = client.post("/v1/messages", json={}, headers={"x-api-key": "sk-nope"})
            assert (again.status_code, again.json()["type"]) == (401, "error")


def test_serve_announces_the_fronts_address(tmp_path: Path) -> None:
    with Gateway(sqlite_url(tmp_path), tmp_path) as running:
        assert running._runner is not None
        line = announcement(running._runner, running.settings, running.port)
        assert f"serving on http://127.0.0.1:{running.port} " in line
