"""Fixtures for the coding-agent CLI tests: a gateway with a channel of each chat format on
one fake upstream that plays the model, and a fresh home and project per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_clis.clis import Setup
from agent_clis.upstream import AgentUpstream
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A gateway (SQLite) with one channel of each chat format on the agent upstream."""
    root = tmp_path_factory.mktemp("agents")
    with AgentUpstream() as upstream, Gateway(sqlite_url(root), root / "data") as gateway:
        admin = Admin(gateway.url, gateway.admin_key)
        models: dict[str, str] = {}
        for kind, channel_type, base_url, endpoints in (
            ("anthropic", "anthropic", upstream.origin, ["chat"]),
            ("openai", "openai", upstream.origin + "/v1", ["chat"]),
            ("gemini", "gemini", upstream.origin, ["chat"]),
            ("responses", "openai", upstream.origin + "/v1", ["responses"]),
        ):
            model = unique_model(f"agent-{kind}")
            admin.create_channel(
                type=channel_type,
                base_url=base_url,
                api_keys=["sk-upstream"],
                models=[model],
                endpoints=endpoints,
            )
            models[kind] = model
        user = admin.create_user(balance=10)
        key = admin.create_token(user["id"], name="agents")["key"]
        try:
            yield Setup(gateway, admin, upstream, key, user["id"], models)
        finally:
            admin.close()


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, Path, str]:
    """(home, project directory, secret): the project holds ``secret.txt``."""
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    secret = "airelay-secret-" + os.urandom(4).hex()
    (project / "secret.txt").write_text(secret + "\n")
    return home, project, secret
