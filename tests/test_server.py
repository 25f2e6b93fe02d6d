"""Where ``serve`` says the gateway answers: the bound address as a URL (an IPv6 host in
brackets), and the console's URL, through loopback when every interface is bound."""

from __future__ import annotations

import pytest

from airelay.server import base_url, console_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("::1", "http://[::1]:8080"),
        ("fe80::1%eth0", "http://[fe80::1%25eth0]:8080"),
        ("relay.example.com", "http://relay.example.com:8080"),
    ],
)
def test_the_bound_address_as_a_url(host: str, url: str) -> None:
    assert base_url(host, 8080) == url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/console/"),
        ("192.0.2.10", "http://192.0.2.10:8080/console/"),
        ("::1", "http://[::1]:8080/console/"),
        ("0.0.0.0", "http://127.0.0.1:8080/console/"),
        ("::", "http://[::1]:8080/console/"),
        ("localhost", "http://localhost:8080/console/"),
    ],
)
def test_the_console_url_opens_from_this_machine(host: str, url: str) -> None:
    assert console_url(host, 8080) == url
