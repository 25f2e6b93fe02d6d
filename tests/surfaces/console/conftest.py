"""Fixtures of the console tests: browsers (cookie jars) against the module's gateway, with
sign-up open; a gateway that sends mail to a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import PUBLIC_URL, Console, open_registration
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


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def mail_gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink
) -> Iterator[Gateway]:
    """A gateway with an SMTP server (plain, no login) and a public URL, sign-up open."""
    with Gateway(
        database_url,
        tmp_path_factory.mktemp("mail"),
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="relay@example.com",
    ) as running:
        admin = Admin(running.url, running.admin_key)
        open_registration(admin.http)
        admin.close()
        yield running
