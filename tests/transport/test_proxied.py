"""The proxied transport against real proxies on loopback (fakes that record each use):
an HTTP proxy tunnels an HTTPS upstream with CONNECT and forwards an HTTP one, a SOCKS5
proxy carries both, with credentials (refused without the right ones); TLS to the upstream
uses the channel's CA; failures come out as the own client's errors."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator

import pytest
from fakes.echo import EchoServer
from fakes.pki import TestCA
from fakes.proxies import HttpProxy, Socks5Proxy

from airelay.client import ConnectFailed, Target, Timeouts, TooLarge, post_target
from airelay.transport.options import TlsOptions, ssl_context
from airelay.transport.proxied import ProxiedTransport

TIMEOUTS = Timeouts(connect=5, read=5, total=10)
CREDENTIALS = ("alice", "s3cret-pass")


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def http_proxy() -> Iterator[HttpProxy]:
    with HttpProxy(CREDENTIALS) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_proxy() -> Iterator[Socks5Proxy]:
    with Socks5Proxy(CREDENTIALS) as proxy:
        yield proxy


def transport(proxy: str, ca: TestCA | None = None, max_body: int = 1 << 20) -> ProxiedTransport:
    context = None if ca is None else ssl_context(TlsOptions(ca_bundle=ca.ca_pem))
    return ProxiedTransport(proxy, context, TIMEOUTS, max_body=max_body, max_per_origin=8)


async def roundtrip(through: ProxiedTransport, target: Target, body: bytes) -> bytes:
    response = await through.send(target, body)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    data = await response.read()
    response.release()
    return data


def test_http_proxy_tunnels_https_with_connect(ca: TestCA, http_proxy: HttpProxy) -> None:
    before = len(http_proxy.tunnels)

    async def scenario() -> None:
        async with EchoServer(ca.server_context()) as upstream:
            through = transport(http_proxy.url, ca)
            target = post_target(upstream.url(), {"Authorization": "Bearer sk-up"})
            for n in range(3):
                assert await roundtrip(through, target, b'{"n":%d}' % n) == b'{"n":%d}' % n
            await through.close()
            assert upstream.connections == 1  # one tunnel, kept alive
            assert b"Authorization: Bearer sk-up" in upstream.heads[0]
            assert f"127.0.0.1:{upstream.port}" in http_proxy.tunnels[before:]

    asyncio.run(scenario())
    expected = "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()
    assert http_proxy.authorizations[-1] == expected


def test_https_proxy_tunnels_tls_in_tls(ca: TestCA) -> None:
    """An https:// proxy: TLS to the proxy, and the upstream's TLS inside the tunnel."""
    with HttpProxy(CREDENTIALS, tls=ca.server_context()) as secure_proxy:

        async def scenario() -> None:
            async with EchoServer(ca.server_context()) as upstream:
                through = transport(secure_proxy.url, ca)
                target = post_target(upstream.url("localhost"), {})
                assert await roundtrip(through, target, b"inner") == b"inner"
                await through.close()

        asyncio.run(scenario())
        assert secure_proxy.tunnels and secure_proxy.authorizations[-1]


def test_http_proxy_forwards_plain_http(http_proxy: HttpProxy) -> None:
    async def scenario() -> None:
        async with EchoServer() as upstream:
            through = transport(http_proxy.url)
            assert await roundtrip(through, post_target(upstream.url(), {}), b"plain") == b"plain"
            await through.close()
            assert any(t.startswith(upstream.url()) for t in http_proxy.forwarded)

    asyncio.run(scenario())


def test_http_proxy_refuses_wrong_credentials(http_proxy: HttpProxy) -> None:
    refused = http_proxy.refused

    async def scenario() -> None:
        async with EchoServer() as upstream:
            wrong = f"http://alice:wrong@{http_proxy.host_port}"
            through = transport(wrong)
            # A plain-http call through a proxy gets the proxy's 407 as its answer...
            response = await through.send(post_target(upstream.url(), {}), b"{}")
            assert response.status == 407
            response.close()
            await through.close()
            assert upstream.connections == 0

    asyncio.run(scenario())
    assert http_proxy.refused == refused + 1


def test_http_proxy_refusing_a_tunnel_is_a_connect_failure(
    ca: TestCA, http_proxy: HttpProxy
) -> None:
    async def scenario() -> None:
        async with EchoServer(ca.server_context()) as upstream:
            through = transport(f"http://{http_proxy.host_port}", ca)  # no credentials
            with pytest.raises(ConnectFailed, match="through the proxy") as caught:
                await through.send(post_target(upstream.url(), {}), b"{}")
            assert CREDENTIALS[1] not in str(caught.value)
            await through.close()
            assert upstream.connections == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_socks5_carries_http_and_https(ca: TestCA, socks_proxy: Socks5Proxy, scheme: str) -> None:
    before = len(socks_proxy.connects)

    async def scenario() -> None:
        async with EchoServer() as plain, EchoServer(ca.server_context()) as secure:
            through = transport(socks_proxy.url(scheme), ca)
            assert await roundtrip(through, post_target(plain.url("localhost"), {}), b"a") == b"a"
            assert await roundtrip(through, post_target(secure.url("localhost"), {}), b"b") == b"b"
            await through.close()
            return plain.port, secure.port

    ports = asyncio.run(scenario())
    # socks5h: the proxy resolves the name; socks5: the gateway does, and sends an address.
    host = "localhost" if scheme == "socks5h" else "127.0.0.1"
    assert socks_proxy.connects[before:] == [(host, ports[0]), (host, ports[1])]
    assert socks_proxy.users[-1] == CREDENTIALS[0]


def test_socks5_refuses_wrong_credentials(socks_proxy: Socks5Proxy) -> None:
    refused = socks_proxy.refused

    async def scenario() -> None:
        async with EchoServer() as upstream:
            through = transport(f"socks5://alice:wrong@{socks_proxy.host_port}")
            with pytest.raises(ConnectFailed) as caught:
                await through.send(post_target(upstream.url(), {}), b"{}")
            assert "wrong" not in str(caught.value)
            await through.close()
            assert upstream.connections == 0

    asyncio.run(scenario())
    assert socks_proxy.refused == refused + 1


def test_a_proxy_that_is_down_is_a_connect_failure() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    async def scenario() -> None:
        for proxy in (f"http://127.0.0.1:{port}", f"socks5://127.0.0.1:{port}"):
            through = transport(proxy)
            with pytest.raises(ConnectFailed):
                await through.send(post_target("http://127.0.0.1:9/x", {}), b"{}")
            await through.close()

    asyncio.run(scenario())


def test_whole_answers_are_capped(http_proxy: HttpProxy) -> None:
    async def scenario() -> None:
        async with EchoServer(body=b"x" * 5000) as upstream:
            through = transport(http_proxy.url, max_body=4096)
            response = await through.send(post_target(upstream.url(), {}), b"{}")
            with pytest.raises(TooLarge):
                await response.read()
            response.close()
            # Read in pieces, the same answer is not capped (streams have their own caps).
            response = await through.send(post_target(upstream.url(), {}), b"{}")
            size = 0
            while piece := await response.readany():
                size += len(piece)
            response.release()
            assert size == 5000
            await through.close()

    asyncio.run(scenario())


def test_the_total_deadline_applies_through_the_proxy(http_proxy: HttpProxy) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        through = transport(http_proxy.url)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await through.send(
                post_target(f"http://127.0.0.1:{port}/x", {}),
                b"{}",
                Timeouts(connect=5, read=10, total=0.4),
            )
        assert loop.time() - started < 2
        await through.close()
        server.close()

    asyncio.run(scenario())
