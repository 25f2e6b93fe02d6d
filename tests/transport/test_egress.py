"""A channel's egress (the way its token requests go out): one per channel, equal for
channels with the same proxy and TLS options (their tokens are shared); a POST through it
takes the channel's transport, its CA trusted, its proxy tunnelling; with the operator's
environment proxy, ``NO_PROXY`` is matched against the token endpoint's host, not the
channel's ``base_url``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fakes.echo import EchoServer
from fakes.pki import TestCA
from fakes.proxies import HttpProxy
from support.egress_channels import channel as any_channel
from support.egress_channels import transports

from airelay.client import ConnectFailed
from airelay.store.snapshot import ChannelRecord
from airelay.transport.egress import ChannelEgress
from airelay.transport.options import EnvProxies, TlsOptions

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def proxy() -> Iterator[HttpProxy]:
    with HttpProxy() as running:
        yield running


def test_channels_with_the_same_way_out_have_equal_egresses() -> None:
    chosen = transports()
    tls = TlsOptions(ca_bundle=None, verify=False)
    one = channel(proxy="http://127.0.0.1:3128", tls=tls)
    egress = chosen.egress(one)
    assert chosen.egress(one) is egress  # cached on the channel
    same = chosen.egress(channel("https://other.example", "http://127.0.0.1:3128", tls))
    assert same == egress and hash(same) == hash(egress)
    assert chosen.egress(channel(proxy="http://127.0.0.1:3129", tls=tls)) != egress
    assert chosen.egress(channel(proxy="http://127.0.0.1:3128")) != egress
    # Another gateway's transports (and snapshot: the egress is cached on the record).
    assert transports().egress(channel(proxy="http://127.0.0.1:3128", tls=tls)) != egress
    assert isinstance(egress, ChannelEgress)
    assert "3128" not in repr(egress)  # a proxy's URL may hold its password


def test_a_post_trusts_the_channel_ca_and_goes_through_its_proxy(
    ca: TestCA, proxy: HttpProxy
) -> None:
    async def scenario() -> None:
        chosen = transports()
        async with EchoServer(ca.server_context()) as endpoint:
            url = endpoint.url("localhost", "/tenant/oauth2/v2.0/token")
            trusting = chosen.egress(channel(proxy=proxy.url, tls=TlsOptions(ca_bundle=ca.ca_pem)))
            reply = await trusting.post(url, b"grant_type=client_credentials", FORM)
            assert (reply.status, reply.body) == (200, b"grant_type=client_credentials")
            assert proxy.tunnels == [f"localhost:{endpoint.port}"]
            assert b"POST /tenant/oauth2/v2.0/token HTTP/1.1" in endpoint.heads[0]
            with pytest.raises(ConnectFailed):  # no CA: the handshake fails
                await chosen.egress(channel(proxy=proxy.url)).post(url, b"x", FORM)
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await chosen.egress(channel()).post(url, b"x", FORM)  # direct, no CA
        await chosen.close()

    asyncio.run(scenario())


def test_the_environment_proxy_is_chosen_for_the_token_endpoint_host(
    ca: TestCA, proxy: HttpProxy
) -> None:
    """The channel's upstream is in ``NO_PROXY`` (its calls go direct); its token endpoint
    is not, so its token requests take the environment's proxy, and the other way round."""

    async def scenario() -> None:
        async with EchoServer(ca.server_context()) as endpoint:
            env = EnvProxies({"HTTPS_PROXY": proxy.url, "NO_PROXY": "upstream.example"})
            chosen = transports(env)
            local = channel("https://upstream.example/v1", tls=TlsOptions(ca_bundle=ca.ca_pem))
            assert chosen.for_channel(local) is not chosen.route(None, local.tls, "https://x")
            url = endpoint.url("localhost", "/token")
            assert (await chosen.egress(local).post(url, b"a", FORM)).status == 200
            assert proxy.tunnels == [f"localhost:{endpoint.port}"]
            await chosen.close()
            bypassing = transports(EnvProxies({"HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost"}))
            remote = channel("https://upstream.example/v1", tls=TlsOptions(ca_bundle=ca.ca_pem))
            assert (await bypassing.egress(remote).post(url, b"b", FORM)).status == 200
            assert len(proxy.tunnels) == 1  # NO_PROXY named the token endpoint: direct
            await bypassing.close()

    asyncio.run(scenario())


def channel(
    base_url: str = "https://upstream.example/v1",
    proxy: str | None = None,
    tls: TlsOptions | None = None,
) -> ChannelRecord:
    return any_channel(base_url, proxy, tls, kind="azure")
