"""The ``airelay`` command as an operator runs it: help, migrate, serve, admin-key."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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


def _serve(tmp_path: Path, port: int, **extra: str) -> tuple[subprocess.Popen[str], str]:
    env = env_for(tmp_path, AIRELAY_PORT=str(port), **extra)
    process = subprocess.Popen(
        [*AIRELAY, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60  # a loaded machine: start-up is two processes' imports
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    return output


def test_serve_prints_root_key_once_and_it_works(tmp_path: Path) -> None:
    process, url = _serve(tmp_path, free_port())
    try:
        response = httpx.get(url + "/v1/models")
        assert response.status_code == 401
    finally:
        output = _stop(process)
    keys = [word for word in output.split() if word.startswith("mgmt-")]
    assert len(keys) == 1
    process, url = _serve(tmp_path, free_port())
    try:
        settings = httpx.get(
            url + "/v1/admin/settings", headers={"Authorization": f"Bearer {keys[0]}"}
        )
        assert settings.status_code == 200 and settings.json()["system_name"]
    finally:
        second_output = _stop(process)
    assert "mgmt-" not in second_output


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
    process, url = _serve(tmp_path, free_port(), AIRELAY_WORKERS="2", AIRELAY_ADMIN_KEY=key)
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
        _stop(process)
