"""A channel's access tokens (Vertex AI service accounts, Entra ID client credentials) take
the channel's own way out, as its relayed calls do: through the real gateway, the token
request passes the channel's HTTP CONNECT proxy (the proxy records the tunnel to the token
endpoint), and a token endpoint served over TLS with a certificate of the test's own CA is
trusted when the channel carries that CA (``tls.ca_bundle``, or ``verify: false``) and
refused without it: a clean 502 that says the token endpoint could not be reached, with no
secret of the key in it. The channel probe takes the same way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from fakes.azure_upstream import FakeAzure
from fakes.pki import TestCA
from fakes.proxies import HttpProxy
from fakes.token_servers import FakeEntra, FakeGoogleOAuth
from fakes.vertex_upstream import FakeVertex
from support.admin import Admin, unique_model
from support.gateway import Gateway

GEMINI = "gemini-2.5-flash"
DEPLOYMENT = "gpt-4o-mini-prod"
CREDENTIALS = ("relay", "pr0xy-" + uuid.uuid4().hex)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def oauth(ca: TestCA) -> Iterator[FakeGoogleOAuth]:
    server = FakeGoogleOAuth()
    server.tls = ca.server_context()
    with server:
        yield server


@pytest.fixture(scope="module")
def entra(ca: TestCA) -> Iterator[FakeEntra]:
    server = FakeEntra()
    server.tls = ca.server_context()
    with server:
        yield server


@pytest.fixture(scope="module")
def upstream_vertex(oauth: FakeGoogleOAuth) -> Iterator[FakeVertex]:
    with FakeVertex(oauth) as fake:
        yield fake


@pytest.fixture(scope="module")
def upstream_azure(entra: FakeEntra) -> Iterator[FakeAzure]:
    with FakeAzure(entra, api_keys=()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(upstream_vertex: FakeVertex, upstream_azure: FakeAzure) -> None:
    upstream_vertex.reset()
    upstream_azure.reset()


@pytest.fixture
def proxy() -> Iterator[HttpProxy]:
    """A proxy of each test's own: the tunnels it records are that test's."""
    with HttpProxy(CREDENTIALS) as running:
        yield running


def _vertex(
    admin: Admin, oauth: FakeGoogleOAuth, fake: FakeVertex, **egress: Any
) -> tuple[str, str, str, str]:
    """A vertex channel with ``egress`` (proxy, tls): (model, user key, channel id, the
    service account's email)."""
    account = oauth.service_account()
    model = unique_model("vertex-egress")
    channel = admin.create_channel(
        type="vertex",
        base_url=fake.base_url,
        api_keys=[account.key_json],
        models=[],
        model_mapping={model: GEMINI},
        **egress,
    )
    return model, str(admin.create_token()["key"]), str(channel["id"]), account.email


def _azure(
    admin: Admin, entra: FakeEntra, fake: FakeAzure, **egress: Any
) -> tuple[str, str, str, str, str]:
    """An azure channel on Entra ID credentials with ``egress``: (model, user key, channel
    id, the application's client id, its client secret)."""
    tenant, client, secret = entra.application()
    key = {
        "tenant_id": tenant,
        "client_id": client,
        "client_secret": secret,
        "authority": entra.authority,
    }
    model = unique_model("azure-egress")
    channel = admin.create_channel(
        type="azure",
        base_url=fake.endpoint,
        api_keys=[orjson.dumps(key).decode()],
        models=[],
        model_mapping={model: DEPLOYMENT},
        **egress,
    )
    return model, str(admin.create_token()["key"]), str(channel["id"]), client, secret


def _chat(gateway: Gateway, key: str, model: str) -> str:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    reply = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "through the proxy"}]
    )
    return reply.choices[0].message.content or ""


def _refused(gateway: Gateway, key: str, model: str) -> openai.APIStatusError:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return failed.value


def test_a_vertex_token_is_fetched_through_the_channel_proxy_trusting_its_ca(
    gateway: Gateway,
    admin: Admin,
    oauth: FakeGoogleOAuth,
    upstream_vertex: FakeVertex,
    proxy: HttpProxy,
    ca: TestCA,
) -> None:
    model, key, _, email = _vertex(
        admin, oauth, upstream_vertex, proxy=proxy.url, tls={"ca_bundle": ca.ca_pem}
    )
    assert _chat(gateway, key, model)
    assert oauth.requests_of(email) == 1
    # The token request went through the channel's proxy, in a tunnel to the endpoint.
    assert f"127.0.0.1:{oauth.port}" in proxy.tunnels
    assert proxy.authorizations and all(a is not None for a in proxy.authorizations)
    assert upstream_vertex.unauthenticated == 0


def test_an_entra_token_is_fetched_through_the_channel_proxy_trusting_its_ca(
    gateway: Gateway,
    admin: Admin,
    entra: FakeEntra,
    upstream_azure: FakeAzure,
    proxy: HttpProxy,
    ca: TestCA,
) -> None:
    model, key, _, client, _ = _azure(
        admin, entra, upstream_azure, proxy=proxy.url, tls={"ca_bundle": ca.ca_pem}
    )
    assert _chat(gateway, key, model)
    assert entra.requests_of(client) == 1
    assert f"127.0.0.1:{entra.port}" in proxy.tunnels
    assert upstream_azure.chat_requests[-1].headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize("tls", [{"verify": False}, "ca"], ids=["verify-false", "ca-bundle"])
def test_the_channel_tls_options_make_a_direct_token_endpoint_trusted(
    gateway: Gateway,
    admin: Admin,
    oauth: FakeGoogleOAuth,
    entra: FakeEntra,
    upstream_vertex: FakeVertex,
    upstream_azure: FakeAzure,
    ca: TestCA,
    tls: dict[str, Any] | str,
) -> None:
    options = {"ca_bundle": ca.ca_pem} if tls == "ca" else tls
    model, key, _, email = _vertex(admin, oauth, upstream_vertex, tls=options)
    assert _chat(gateway, key, model)
    assert oauth.requests_of(email) == 1
    model, key, _, client, _ = _azure(admin, entra, upstream_azure, tls=options)
    assert _chat(gateway, key, model)
    assert entra.requests_of(client) == 1


def test_without_the_ca_the_token_endpoint_is_refused_cleanly(
    gateway: Gateway,
    admin: Admin,
    oauth: FakeGoogleOAuth,
    entra: FakeEntra,
    upstream_vertex: FakeVertex,
    upstream_azure: FakeAzure,
) -> None:
    model, key, _, email = _vertex(admin, oauth, upstream_vertex)
    failed = _refused(gateway, key, model)
    assert failed.status_code == 502
    message = failed.response.json()["error"]["message"]
    assert "no access token" in message
    assert "the token endpoint could not be reached (ConnectFailed)" in message
    assert "PRIVATE KEY" not in failed.response.text
    assert oauth.requests_of(email) == 0  # the handshake failed: no request was made
    assert upstream_vertex.requests == []

    model, key, _, client, secret = _azure(admin, entra, upstream_azure)
    failed = _refused(gateway, key, model)
    assert failed.status_code == 502
    message = failed.response.json()["error"]["message"]
    assert "the token endpoint could not be reached (ConnectFailed)" in message
    assert secret not in failed.response.text and client not in failed.response.text
    assert entra.requests_of(client) == 0
    assert upstream_azure.requests == []


def test_the_channel_probe_fetches_its_token_the_channel_way(
    admin: Admin,
    entra: FakeEntra,
    upstream_azure: FakeAzure,
    proxy: HttpProxy,
    ca: TestCA,
) -> None:
    _, _, channel_id, client, secret = _azure(
        admin, entra, upstream_azure, proxy=proxy.url, tls={"ca_bundle": ca.ca_pem}
    )
    probe = admin.http.post(f"/v1/admin/channels/{channel_id}/test")
    assert probe.json()["success"] is True, probe.text
    assert entra.requests_of(client) == 1
    assert f"127.0.0.1:{entra.port}" in proxy.tunnels
    _, _, untrusted, client, secret = _azure(admin, entra, upstream_azure)
    probe = admin.http.post(f"/v1/admin/channels/{untrusted}/test")
    result = probe.json()
    assert result["success"] is False
    assert "the token endpoint could not be reached (ConnectFailed)" in result["message"]
    assert secret not in probe.text
