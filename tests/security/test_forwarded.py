"""The client's address behind a trusted reverse proxy (``AIRELAY_TRUSTED_PROXIES``): read
from X-Forwarded-For only when the peer is trusted, from the right, so that what a client
writes there itself is never believed; and, on a real gateway, what a key's IP allow-list
and the console's sign-in throttle then see. The same through nginx:
``tests/deploy/test_instances_script.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.console import Console
from support.databases import sqlite_url
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok

from airelay.config import ConfigError, load_settings
from airelay.security.forwarded import TrustedProxies, parse_networks

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 2001:db8:ff::/48, 127.0.0.1"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # An untrusted peer: whatever it writes is ignored.
        ("198.51.100.4", ["203.0.113.7"], "198.51.100.4"),
        # A trusted one, no header: the peer.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", [" , "], "10.0.0.2"),
        # The right-most address that is no proxy; the client's own claim left of it is not
        # believed.
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["192.0.2.66, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["192.0.2.66, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),
        # Several header lines read as one list, in order.
        ("10.0.0.2", ["192.0.2.66", "203.0.113.7, 10.1.2.3"], "203.0.113.7"),
        # Ports some proxies add, IPv6 with and without them.
        ("10.0.0.2", ["203.0.113.7:41234"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:db8::1]:41234"], "2001:db8::1"),
        ("2001:db8:ff::9", ["2001:DB8::1"], "2001:db8::1"),
        # Every hop a proxy (a call from inside): the left-most.
        ("10.0.0.2", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
        # No address where the client should be: that, as it stands (no allow-list matches
        # it), never the proxy's own address.
        ("10.0.0.2", ["unknown"], "unknown"),
        ("10.0.0.2", ["203.0.113.7, nonsense, 10.1.2.3"], "nonsense"),
        ("10.0.0.2", ["[2001:db8::1"], "[2001:db8::1"),
        ("10.0.0.2", ["host.example:80"], "host.example:80"),
        (None, ["203.0.113.7"], None),
    ],
)
def test_the_client_is_the_right_most_address_that_is_no_trusted_proxy(
    peer: str | None, forwarded: list[str], client: str | None
) -> None:
    assert PROXIES.client(peer, forwarded) == client


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert parse_networks(" 127.0.0.1 ,, 10.0.0.0/8,::1 ") == parse_networks(
        "127.0.0.1/32,10.0.0.0/8,::1/128"
    )
    assert parse_networks("10.1.2.3/8") == parse_networks("10.0.0.0/8")  # host bits dropped
    for bad in ("", " , ", "localhost", "10.0.0.0/33", "10.0.0.1, nginx"):
        with pytest.raises(ValueError):
            parse_networks(bad)


def test_a_bad_setting_stops_the_start_naming_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"^AIRELAY_TRUSTED_PROXIES: 'nginx' is not an IP"):
        load_settings({"AIRELAY_TRUSTED_PROXIES": "127.0.0.1, nginx"})
    assert load_settings({"AIRELAY_TRUSTED_PROXIES": "127.0.0.1"}).trusted_proxies == "127.0.0.1"


# ---- a gateway that trusts 127.0.0.1 as its proxy; clients from 127.0.0.2 are not proxies


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("behind-proxy")
    with Gateway(sqlite_url(folder), folder, trusted_proxies="127.0.0.1") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("no-proxy")
    with Gateway(sqlite_url(folder), folder) as gateway:
        yield gateway


def _models(gateway: Gateway, key: str, forwarded: str | None, source: str = "127.0.0.1") -> int:
    headers = {"Authorization": f"Bearer {key}"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as http:
        return http.get(f"{gateway.url}/v1/models", headers=headers).status_code


def _allow_listed_key(gateway: Gateway, *networks: str) -> str:
    admin = Admin(gateway.url, gateway.admin_key)
    try:
        token = admin.create_token(admin.create_user()["id"], ip_allowlist=list(networks))
    finally:
        admin.close()
    return str(token["key"])


def test_a_key_allow_list_sees_the_client_the_trusted_proxy_names(behind: Gateway) -> None:
    key = _allow_listed_key(behind, "203.0.113.0/24")
    assert _models(behind, key, "203.0.113.7") == 200
    assert _models(behind, key, "198.51.100.1") == 403
    # What the client wrote itself, left of what the proxy appended, is not believed.
    assert _models(behind, key, "203.0.113.7, 198.51.100.1") == 403
    assert _models(behind, key, "garbage") == 403
    assert _models(behind, key, None) == 403  # the proxy itself is not on the list
    # A peer that is no trusted proxy: its header is ignored.
    assert _models(behind, key, "203.0.113.7", source="127.0.0.2") == 403
    loopback = _allow_listed_key(behind, "127.0.0.2/32")
    assert _models(behind, loopback, "203.0.113.7", source="127.0.0.2") == 200


def test_a_streamed_call_is_answered_and_billed_for_the_forwarded_client(
    behind: Gateway,
) -> None:
    # The handler gets a clone of the request (its ``remote`` the client): the stream is
    # written through it to the proxy's connection.
    with FakeOpenAI(api_keys=("sk-upstream-test",)) as upstream:
        admin = Admin(behind.url, behind.admin_key)
        try:
            model = unique_model("fwd")
            admin.create_channel(
                base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
            )
            user = admin.create_user(balance=1)
            key = admin.create_token(user["id"], ip_allowlist=["203.0.113.7/32"])["key"]
            client = openai.OpenAI(
                base_url=behind.url + "/v1",
                api_key=key,
                max_retries=0,
                default_headers={"X-Forwarded-For": "203.0.113.7"},
            )
            chunks = list(
                client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": "hello"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
            deadline = time.monotonic() + 10  # charges are written in the background
            while admin.http.get(f"/v1/admin/users/{user['id']}").json()["balance"] >= 1:
                assert time.monotonic() < deadline, "the call was never charged"
                time.sleep(0.02)
        finally:
            admin.close()


def test_without_the_setting_the_header_is_ignored(direct: Gateway) -> None:
    key = _allow_listed_key(direct, "203.0.113.0/24")
    assert _models(direct, key, "203.0.113.7") == 403
    assert _models(direct, _allow_listed_key(direct, "127.0.0.1/32"), "203.0.113.7") == 200


def test_an_allow_list_refusal_through_an_untrusted_proxy_names_the_setting(
    direct: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the setting, a refusal of a request that carried X-Forwarded-For is logged
    once per peer, naming the setting: the operator behind a proxy learns why."""
    key = _allow_listed_key(direct, "203.0.113.0/24")
    with caplog.at_level("WARNING", logger="airelay.security.forwarded"):
        for _ in range(3):
            assert _models(direct, key, "203.0.113.7", source="127.0.0.9") == 403
        assert _models(direct, key, None, source="127.0.0.10") == 403  # no header: no hint
    hints = [r.getMessage() for r in caplog.records if "AIRELAY_TRUSTED_PROXIES" in r.getMessage()]
    assert len(hints) == 1 and "127.0.0.9" in hints[0]


def test_sign_in_guesses_behind_the_proxy_lock_out_only_their_client(behind: Gateway) -> None:
    """Five wrong management keys from one client lock that client out, not everyone
    behind the same proxy."""
    guesser, operator = Console(behind.url), Console(behind.url)
    guesser.http.headers["X-Forwarded-For"] = "203.0.113.7"
    operator.http.headers["X-Forwarded-For"] = "198.51.100.1"
    for index in range(5):
        expect_error(guesser.operator(f"mgmt-guess-{index}"), 401)
    expect_error(guesser.operator(behind.admin_key), 429)
    assert ok(operator.operator(behind.admin_key))["role"] == "operator"
    for console in (guesser, operator):
        console.close()
