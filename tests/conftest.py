"""Shared fixtures: databases (SQLite and PostgreSQL), a gateway on loopback, fake upstreams,
and a management client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin
from support.databases import create_postgres_database, drop_postgres_database, sqlite_url
from support.gateway import Gateway

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database of each backend (one per test module)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("sqlite"))
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with Gateway(database_url, data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=("sk-upstream-test", "sk-upstream-second")) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_upstream(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> Iterator[Admin]:
    client = Admin(gateway.url, gateway.admin_key)
    yield client
    client.close()
