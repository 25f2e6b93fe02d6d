"""The relay picks each channel's transport: through the real gateway, a chat call (whole
and streamed) to an HTTPS upstream with a CA of the test's own reaches it through an HTTP
CONNECT proxy or a SOCKS5 proxy when the channel names one, and the channel's ``tls``
makes the CA trusted; the admin channel test takes the same way. A proxy that refuses the
channel's credentials fails the call without showing them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from fakes.pki import TestCA
from fakes.proxies import HttpProxy, Socks5Proxy
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway

UPSTREAM_KEY = "sk-upstream-tls"
CREDENTIALS = ("relay", "pr0xy-" + uuid.uuid4().hex)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def secure(ca: TestCA) -> Iterator[FakeOpenAI]:
    """A fake OpenAI upstream served over HTTPS with a certificate of the test CA."""
    fake = FakeOpenAI(api_keys=(UPSTREAM_KEY,), name="secure")
    fake.tls = ca.server_context()
    with fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(secure: FakeOpenAI) -> None:
    secure.reset()


@pytest.fixture(scope="module")
def http_proxy() -> Iterator[HttpProxy]:
    with HttpProxy(CREDENTIALS) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_proxy() -> Iterator[Socks5Proxy]:
    with Socks5Proxy(CREDENTIALS) as proxy:
        yield proxy


def route(admin: Admin, secure: FakeOpenAI, **fields: Any) -> tuple[str, str, str]:
    """A channel to the secure upstream with ``fields``: (model, user key, channel id)."""
    model = unique_model("tls")
    channel = admin.create_channel(
        type="openai",
        base_url=secure.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
        **fields,
    )
    return model, str(admin.create_token()["key"]), str(channel["id"])


def chat(gateway: Gateway, key: str, model: str, stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_chat_through_a_connect_proxy(
    gateway: Gateway, admin: Admin, secure: FakeOpenAI, http_proxy: HttpProxy, ca: TestCA
) -> None:
    tunnels = len(http_proxy.tunnels)
    model, key, _ = route(admin, secure, proxy=http_proxy.url, tls={"ca_bundle": ca.ca_pem})
    whole = chat(gateway, key, model)
    assert whole.status_code == 200, whole.text
    assert whole.json()["choices"][0]["message"]["content"]
    streamed = chat(gateway, key, model, stream=True)
    assert streamed.status_code == 200, streamed.text
    assert streamed.text.rstrip().endswith("data: [DONE]")
    assert len(secure.chat_requests) == 2
    assert secure.chat_requests[0].api_key == UPSTREAM_KEY
    # Through the proxy: at least one CONNECT to the upstream (the tunnel is kept alive).
    assert f"127.0.0.1:{secure.port}" in http_proxy.tunnels[tunnels:]


def test_chat_through_a_socks5_proxy(
    gateway: Gateway, admin: Admin, secure: FakeOpenAI, socks_proxy: Socks5Proxy, ca: TestCA
) -> None:
    connects = len(socks_proxy.connects)
    user, password = CREDENTIALS
    proxy = f"socks5://{user}:{password}@{socks_proxy.host_port}"
    model, key, _ = route(admin, secure, proxy=proxy, tls={"ca_bundle": ca.ca_pem})
    response = chat(gateway, key, model, stream=True)
    assert response.status_code == 200, response.text
    assert ("127.0.0.1", secure.port) in socks_proxy.connects[connects:]
    assert len(secure.chat_requests) == 1


def test_direct_tls_channel_trusts_its_ca_and_nothing_else(
    gateway: Gateway, admin: Admin, secure: FakeOpenAI, ca: TestCA
) -> None:
    model, key, _ = route(admin, secure, tls={"ca_bundle": ca.ca_pem})
    assert chat(gateway, key, model).status_code == 200
    untrusted_model, untrusted_key, _ = route(admin, secure)
    response = chat(gateway, untrusted_key, untrusted_model)
    assert response.status_code == 502, response.text
    assert len(secure.chat_requests) == 1  # the untrusted call never got through


def test_proxy_refusing_the_credentials_fails_without_showing_them(
    gateway: Gateway, admin: Admin, secure: FakeOpenAI, http_proxy: HttpProxy, ca: TestCA
) -> None:
    refused = http_proxy.refused
    wrong = "wrong-" + uuid.uuid4().hex
    proxy = f"http://{CREDENTIALS[0]}:{wrong}@{http_proxy.host_port}"
    model, key, channel_id = route(admin, secure, proxy=proxy, tls={"ca_bundle": ca.ca_pem})
    response = chat(gateway, key, model)
    assert response.status_code == 502, response.text
    assert wrong not in response.text
    assert http_proxy.refused > refused
    assert not secure.chat_requests
    probe = admin.http.post(f"/v1/admin/channels/{channel_id}/test")
    assert probe.status_code == 200
    assert probe.json()["success"] is False
    assert wrong not in probe.text


def test_admin_channel_test_goes_through_the_channel_transport(
    admin: Admin, secure: FakeOpenAI, ca: TestCA
) -> None:
    with HttpProxy() as own_proxy:  # a proxy of its own: no tunnel another test kept open
        _, _, proxied = route(admin, secure, proxy=own_proxy.url, tls={"ca_bundle": ca.ca_pem})
        result = admin.http.post(f"/v1/admin/channels/{proxied}/test").json()
        assert result["success"] is True, result
        assert result["status_code"] == 200
        assert own_proxy.tunnels == [f"127.0.0.1:{secure.port}"]
    assert secure.chat_requests[-1].body["max_tokens"] == 1
    # Without the CA the same upstream is not trusted: the test says so.
    _, _, untrusted = route(admin, secure)
    result = admin.http.post(f"/v1/admin/channels/{untrusted}/test").json()
    assert result["success"] is False
    assert result["message"] == "upstream unreachable: ConnectFailed"


def test_environment_proxy_when_the_operator_opts_in(
    secure: FakeOpenAI, ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AIRELAY_UPSTREAM_TRUST_ENV``: channels without a proxy of their own use
    ``HTTPS_PROXY``, except for the hosts ``NO_PROXY`` names. The variables are read at
    start-up (and removed right after, so this test's own clients go direct)."""
    with HttpProxy() as env_proxy:
        monkeypatch.setenv("HTTPS_PROXY", env_proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost")
        gateway = Gateway(sqlite_url(tmp_path), tmp_path, upstream_trust_env=True).start()
        monkeypatch.delenv("HTTPS_PROXY")
        monkeypatch.delenv("NO_PROXY")
        admin = Admin(gateway.url, gateway.admin_key)
        try:
            tls = {"ca_bundle": ca.ca_pem}
            by_address = route(admin, secure, tls=tls)
            named = secure.base_url.replace("127.0.0.1", "localhost")
            model = unique_model("named")
            admin.create_channel(
                type="openai", base_url=named, api_keys=[UPSTREAM_KEY], models=[model], tls=tls
            )
            by_name = (model, str(admin.create_token()["key"]))
            assert chat(gateway, by_address[1], by_address[0]).status_code == 200
            assert chat(gateway, by_name[1], by_name[0]).status_code == 200
            assert len(secure.chat_requests) == 2
            # Only the channel NO_PROXY does not name went through the proxy.
            assert env_proxy.tunnels == [f"127.0.0.1:{secure.port}"]
        finally:
            admin.close()
            gateway.stop()
