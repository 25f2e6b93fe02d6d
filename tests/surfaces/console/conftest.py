"""Fixtures of the console tests: browsers (cookie jars) against the module's gateway, with
sign-up open."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support.admin import Admin
from support.console import Console, open_registration
from support.gateway import Gateway


@pytest.fixture(scope="module")
def registration(admin: Admin) -> None:
    open_registration(admin.http)


@pytest.fixture
def browser(gateway: Gateway, registration: None) -> Iterator[Callable[[], Console]]:
    """Opens as many browsers as a test needs; closed at its end."""
    opened: list[Console] = []

    def open_one() -> Console:
        console = Console(gateway.url)
        opened.append(console)
        return console

    yield open_one
    for console in opened:
        console.close()


@pytest.fixture(scope="module")
def gateway_url(gateway: Gateway) -> str:
    return gateway.url


@pytest.fixture(scope="module")
def admin_key(gateway: Gateway) -> str:
    return gateway.admin_key
