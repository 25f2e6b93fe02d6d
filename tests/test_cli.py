"""The ``airelay`` command as an operator runs it: help, migrate, serve, admin-key."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

AIRELAY = [sys.executable, "-m", "airelay"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRELAY_", "STRIPE_"))}
    env["AIRELAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'data' / 'airelay.db'}"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_lists_commands() -> None:
    out = subprocess.run([*AIRELAY, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "migrate", "admin-key"):
        assert command in out


def test_a_bad_setting_stops_the_command_with_its_variable_named(tmp_path: Path) -> None:
    env = env_for(tmp_path, AIRELAY_WORKERS="many", AIRELAY_ADMIN_KEY="not-a-mgmt-secret")
    result = subprocess.run([*AIRELAY, "serve"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("airelay: AIRELAY_")
    assert "Traceback" not in result.stderr and "not-a-mgmt-secret" not in result.stderr


def test_migrate_then_admin_key(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    subprocess.run([*AIRELAY, "migrate"], env=env, check=True, capture_output=True)
    assert (tmp_path / "data" / "airelay.db").exists()
    key = subprocess.run(
        [*AIRELAY, "admin-key", "--name", "ops"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert key.startswith("mgmt-")


# What ``serve`` prints once its socket is bound.
SERVING = re.compile(r"^airelay \S+ serving on (http://\S+) \(console: (http://\S+)\)$")


class _Served:
    """A running ``airelay serve``: its output, read as it comes, and the addresses it
    printed once bound."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.process = subprocess.Popen(
            [*AIRELAY, "serve"],
            env=env_for(tmp_path, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.url = self.console = ""
        self._bound = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # A loaded machine: start-up is two processes' imports.
        if not self._bound.wait(60):
            self.process.kill()
            raise AssertionError("serve printed no address: " + "".join(self.lines))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            match = SERVING.match(line.strip())
            if match and not self._bound.is_set():
                self.url, self.console = match.groups()
                self._bound.set()
        self._bound.set()  # ended without saying where: the wait above fails

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        self._reader.join(20)
        output = "".join(self.lines)
        assert self.process.returncode == 0, output
        return output


def _serve(tmp_path: Path, port: int, **extra: str) -> tuple[_Served, str]:
    served = _Served(tmp_path, AIRELAY_PORT=str(port), **extra)
    # Printed once bound, so it answers at once, where it says.
    assert served.url == f"http://127.0.0.1:{port}", served.lines
    assert served.console == f"http://127.0.0.1:{port}/console/"
    return served, served.url


def _stop(served: _Served) -> str:
    return served.stop()


def test_serve_prints_root_key_once_and_it_works(tmp_path: Path) -> None:
    process, url = _serve(tmp_path, free_port())
    try:
        response = httpx.get(url + "/v1/models")
        assert response.status_code == 401
    finally:
        output = _stop(process)
    keys = [word for word in output.split() if word.startswith("mgmt-")]
    assert len(keys) == 1
    # The key first, then where to use it.
    assert output.index(keys[0]) < output.index(" serving on ")
    process, url = _serve(tmp_path, free_port())
    try:
        settings = httpx.get(
            url + "/v1/admin/settings", headers={"Authorization": f"Bearer {keys[0]}"}
        )
        assert settings.status_code == 200 and settings.json()["system_name"]
    finally:
        second_output = _stop(process)
    assert "mgmt-" not in second_output


def _answers_the_console(url: str) -> None:
    response = httpx.get(url)
    # The console's page, or (where it is not built) the console route saying so.
    assert response.status_code == 200 or "console is not built" in response.text, url


@pytest.mark.parametrize(
    ("env", "address"),
    [
        ({"AIRELAY_PORT": "0"}, r"http://127\.0\.0\.1:(\d+)"),
        ({"AIRELAY_HOST": "::1", "AIRELAY_PORT": "0"}, r"http://\[::1\]:(\d+)"),
    ],
    ids=["port-0", "ipv6"],
)
def test_serve_prints_the_address_it_bound(
    tmp_path: Path, env: dict[str, str], address: str
) -> None:
    """Port 0: the port the system picked; an IPv6 host: in brackets. Each printed address
    answers."""
    served = _Served(tmp_path, **env)
    try:
        match = re.fullmatch(address, served.url)
        assert match and int(match.group(1)) > 0, served.url
        assert served.console == f"{served.url}/console/"
        assert httpx.get(f"{served.url}/health").status_code == 200
        _answers_the_console(served.console)
    finally:
        served.stop()


def test_serve_uses_configured_admin_key(tmp_path: Path) -> None:
    process, url = _serve(tmp_path, free_port(), AIRELAY_ADMIN_KEY="mgmt-configured-key-123")
    try:
        ok = httpx.get(
            url + "/v1/admin/settings", headers={"Authorization": "Bearer mgmt-configured-key-123"}
        )
        assert ok.status_code == 200
    finally:
        output = _stop(process)
    assert "mgmt-" not in output


def _loaded_extensions(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_several_workers_serve_and_their_parent_stays_light(tmp_path: Path) -> None:
    key = "mgmt-workers-key-123"
    served, url = _serve(tmp_path, free_port(), AIRELAY_WORKERS="2", AIRELAY_ADMIN_KEY=key)
    process = served.process
    try:
        for _ in range(10):
            ok = httpx.get(url + "/v1/admin/settings", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [
            int(pid)
            for pid in children
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2
        # The workers load the server, the database drivers and encryption; the parent,
        # which only starts and stops them, loads none of it.
        deadline = time.monotonic() + 20
        while not all("_http_parser" in _loaded_extensions(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker never loaded the server"
            time.sleep(0.1)
        parent = _loaded_extensions(process.pid)
        for extension in ("_http_parser", "cryptography", "sqlalchemy", "httptools"):
            assert extension not in parent
    finally:
        output = _stop(served)
    # The first worker says where for all (each logs it too, in its log line).
    assert sum(bool(SERVING.match(line)) for line in output.splitlines()) == 1
