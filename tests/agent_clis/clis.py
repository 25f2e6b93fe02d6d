"""The coding-agent CLIs as clients: installed from npm at the versions ``package.json``
pins (``make test`` runs ``npm ci`` here), each run in a home directory of its own so that
no user configuration or credential of the machine leaks in."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from agent_clis.upstream import AgentUpstream
from support.admin import Admin
from support.gateway import Gateway

BIN = Path(__file__).parent / "node_modules" / ".bin"


def cli(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed: `make test` installs the agent CLIs with npm")
        pytest.skip(f"{name} is not installed (`make test` installs it with npm)")
    return path


@dataclass
class Run:
    returncode: int
    output: str


def run(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 90) -> Run:
    """Run a CLI with only ``env`` (plus PATH) in its environment."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run(
        command,
        env={**base, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr)


@dataclass
class Setup:
    gateway: Gateway
    admin: Admin
    upstream: AgentUpstream
    key: str
    user_id: str
    models: dict[str, str]  # upstream format -> a model served by a channel of that format
