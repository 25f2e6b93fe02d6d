"""``GET /metrics`` of a server with two worker processes (``AIRELAY_WORKERS=2``, the real
``airelay serve``): whichever worker answers, the counts are those of both."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from airelay.observe.metrics import FLUSH_SECONDS

ADMIN_KEY = "mgmt-workers-metrics-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ops_ok(text: str) -> float:
    """``airelay_requests_total{surface="ops",status="200"}`` (labels in any order)."""
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        labels, _, value = rest.partition("} ")
        if name == "airelay_requests_total" and sorted(labels.split(",")) == [
            'status="200"',
            'surface="ops"',
        ]:
            return float(value)
    return 0.0


def test_metrics_sum_both_worker_processes(tmp_path: Path) -> None:
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "AIRELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'airelay.db'}",
        "AIRELAY_PORT": str(port),
        "AIRELAY_WORKERS": "2",
        "AIRELAY_ADMIN_KEY": ADMIN_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "airelay", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    answered = 0  # ops requests answered 200, each counted before its answer went out
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    answered += 1
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        # Each request on a new connection: the kernel spreads them over both workers.
        pids: set[str] = set()
        for _ in range(200):
            assert httpx.get(base + "/health", timeout=5).status_code == 200
            answered += 1
            pids = {
                match.group(1)
                for name in os.listdir(metrics_dir)
                if (match := re.match(r"counter_(\d+)\.db$", name))
            }
            if len(pids) == 2 and answered >= 40:
                break
        assert len(pids) == 2, f"one worker served every request: {pids}"
        for _ in range(6):  # whichever worker answers the scrape, it counts both
            # The other worker's counts reach the shared files within its flush period.
            settled = time.monotonic() + 4 * FLUSH_SECONDS
            while True:
                scrape = httpx.get(base + "/metrics", timeout=5)
                assert scrape.status_code == 200
                counted = _ops_ok(scrape.text)
                answered += 1
                if counted == answered - 1 or time.monotonic() > settled:
                    break
                assert counted < answered - 1, "counted requests that were not made"
            assert counted == answered - 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    assert server.returncode == 0
