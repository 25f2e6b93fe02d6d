"""Which transport a channel gets, and that its TLS options and proxy work end to end over
real TLS on loopback: a CA the test generates (trusted through ``tls.ca_bundle``, refused
without it), ``verify: false``, a client certificate the server requires; the environment's
proxy only when the operator opts in, NO_PROXY respected."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fakes.echo import EchoServer
from fakes.pki import TestCA
from fakes.proxies import HttpProxy
from support.egress_channels import channel, transports

from airelay.client import ConnectFailed, Pool, UpstreamError, post_target
from airelay.transport.base import Transport
from airelay.transport.options import EnvProxies, TlsOptions
from airelay.transport.proxied import ProxiedTransport


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def proxy() -> Iterator[HttpProxy]:
    with HttpProxy() as running:
        yield running


async def echo(transport: Transport, url: str) -> bytes:
    response = await transport.send(post_target(url, {}), b'{"ok":1}')
    data = await response.read()
    response.release()
    return data


def test_choice_per_channel() -> None:
    async def scenario() -> None:
        chosen = transports()
        direct = channel()
        assert chosen.for_channel(direct) is chosen.direct
        assert chosen.for_channel(channel(tls=TlsOptions())) is chosen.direct  # the defaults
        relaxed = chosen.for_channel(channel(tls=TlsOptions(verify=False)))
        assert isinstance(relaxed, Pool) and relaxed is not chosen.direct
        # Channels with the same options share one transport.
        assert chosen.for_channel(channel(tls=TlsOptions(verify=False))) is relaxed
        proxied = channel(proxy="socks5://127.0.0.1:1080")
        first = chosen.for_channel(proxied)
        assert isinstance(first, ProxiedTransport)
        assert chosen.for_channel(proxied) is first  # cached on the channel
        await chosen.close()

    asyncio.run(scenario())


def test_environment_proxies_only_when_trusted(proxy: HttpProxy) -> None:
    env = EnvProxies(
        {"HTTPS_PROXY": proxy.url, "NO_PROXY": "internal.example,10.0.0.0/8"},
    )

    async def scenario() -> None:
        trusting = transports(env)
        assert isinstance(trusting.for_channel(channel()), ProxiedTransport)
        for url in ("https://internal.example/v1", "https://a.internal.example/v1"):
            assert trusting.for_channel(channel(url)) is trusting.direct
        assert trusting.for_channel(channel("https://10.1.2.3/v1")) is trusting.direct
        assert trusting.for_channel(channel("http://plain.example/v1")) is trusting.direct
        # A channel's own proxy wins over the environment's.
        own = channel(proxy="socks5://127.0.0.1:1080")
        assert isinstance(trusting.for_channel(own), ProxiedTransport)
        await trusting.close()
        untrusting = transports()
        assert untrusting.for_channel(channel()) is untrusting.direct
        await untrusting.close()

    asyncio.run(scenario())


def test_custom_ca_is_trusted_through_the_channel(ca: TestCA) -> None:
    async def scenario() -> None:
        chosen = transports()
        async with EchoServer(ca.server_context()) as upstream:
            url = upstream.url("localhost")
            trusting = channel(url, tls=TlsOptions(ca_bundle=ca.ca_pem))
            assert await echo(chosen.for_channel(trusting), url) == b'{"ok":1}'
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await echo(chosen.for_channel(channel(url)), url)
            # The bundle replaces the system's trust store: another CA's bundle fails too.
            other = channel(url, tls=TlsOptions(ca_bundle=TestCA("other").ca_pem))
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await echo(chosen.for_channel(other), url)
        await chosen.close()

    asyncio.run(scenario())


def test_verify_false_accepts_any_certificate(ca: TestCA) -> None:
    async def scenario() -> None:
        chosen = transports()
        async with EchoServer(ca.server_context()) as upstream:
            url = upstream.url("localhost")
            relaxed = channel(url, tls=TlsOptions(verify=False))
            assert await echo(chosen.for_channel(relaxed), url) == b'{"ok":1}'
        await chosen.close()

    asyncio.run(scenario())


def test_client_certificate_required_by_the_server(ca: TestCA) -> None:
    async def scenario() -> None:
        chosen = transports()
        async with EchoServer(ca.server_context(require_client_cert=True)) as upstream:
            url = upstream.url("localhost")
            with_cert = channel(
                url,
                tls=TlsOptions(
                    ca_bundle=ca.ca_pem, client_cert=ca.client.cert, client_key=ca.client.key
                ),
            )
            assert await echo(chosen.for_channel(with_cert), url) == b'{"ok":1}'
            without = channel(url, tls=TlsOptions(ca_bundle=ca.ca_pem))
            with pytest.raises(UpstreamError):
                await echo(chosen.for_channel(without), url)
            assert upstream.connections == 1  # only the call with the certificate got in
        await chosen.close()

    asyncio.run(scenario())


def test_tls_options_apply_through_a_proxy(ca: TestCA, proxy: HttpProxy) -> None:
    """Behind a proxy, the channel's CA is used for the upstream inside the tunnel."""
    before = len(proxy.tunnels)

    async def scenario() -> None:
        chosen = transports()
        async with EchoServer(ca.server_context()) as upstream:
            url = upstream.url("localhost")
            both = channel(url, proxy=proxy.url, tls=TlsOptions(ca_bundle=ca.ca_pem))
            assert await echo(chosen.for_channel(both), url) == b'{"ok":1}'
            no_ca = channel(url, proxy=proxy.url)
            with pytest.raises(ConnectFailed):
                await echo(chosen.for_channel(no_ca), url)
        await chosen.close()

    asyncio.run(scenario())
    assert len(proxy.tunnels) == before + 2
