"""A channel's proxy and TLS options: what is accepted, what is refused (with a message a
400 can carry), how they are masked and stored, and how the environment's proxies are read."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakes.pki import TestCA

from airelay.security.crypto import SecretBox
from airelay.transport.options import (
    EnvProxies,
    TlsOptions,
    check_proxy,
    check_tls,
    mask_proxy,
    proxy_secrets,
    tls_document,
    tls_from_document,
)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.mark.parametrize(
    "url",
    [
        "http://proxy.internal:3128",
        "http://user:pass@proxy.internal:3128/",
        "https://proxy.internal",
        "socks5://127.0.0.1:1080",
        "socks5h://alice:s%40cret@[::1]:1080",
    ],
)
def test_proxy_urls_accepted(url: str) -> None:
    check_proxy(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://proxy:21", "scheme"),
        ("socks4://proxy:1080", "scheme"),
        ("proxy.internal:3128", "scheme"),
        ("//proxy:3128", "scheme"),
        ("socks5://proxy", "port"),
        ("http://proxy:3128/path", "path"),
        ("http://proxy:3128?x=1", "path"),
        ("http://:3128", "host"),
        ("http://proxy:99999", "(?i)port"),
        ("http://pro xy:3128", "URL|host|spaces"),
    ],
)
def test_proxy_urls_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_proxy(url)


def test_proxy_masking_and_secrets() -> None:
    url = "socks5://alice:s3cret@proxy:1080"
    assert mask_proxy(url) == "socks5://alice:***@proxy:1080"
    assert "s3cret" not in mask_proxy(url)
    assert mask_proxy("http://proxy:3128") == "http://proxy:3128"
    assert proxy_secrets(url) == (url, "s3cret")
    assert proxy_secrets("http://proxy:3128") == ("http://proxy:3128",)


def test_tls_options_accepted(ca: TestCA) -> None:
    check_tls(TlsOptions())
    check_tls(TlsOptions(verify=False))
    check_tls(TlsOptions(ca_bundle=ca.ca_pem))
    check_tls(TlsOptions(ca_bundle=ca.ca_pem + TestCA("second").ca_pem))
    check_tls(TlsOptions(client_cert=ca.client.cert, client_key=ca.client.key))


def test_tls_options_refused(ca: TestCA) -> None:
    other = TestCA("other")
    encrypted_key = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    cases = [
        (TlsOptions(ca_bundle="not a certificate"), "ca_bundle"),
        (TlsOptions(ca_bundle="é"), "ca_bundle"),
        (TlsOptions(ca_bundle="\ud800"), "ca_bundle"),
        (TlsOptions(client_cert="\ud800", client_key="é"), "client_cert"),
        (TlsOptions(ca_bundle=ca.client.key), "ca_bundle"),
        (TlsOptions(verify=False, ca_bundle=ca.ca_pem), "no use"),
        (TlsOptions(client_cert=ca.client.cert), "go together"),
        (TlsOptions(client_key=ca.client.key), "go together"),
        (TlsOptions(client_cert="garbage", client_key=ca.client.key), "client_cert"),
        (TlsOptions(client_cert=ca.client.cert, client_key="garbage"), "client_cert"),
        (TlsOptions(client_cert=ca.client.cert, client_key=other.client.key), "client_cert"),
        (TlsOptions(client_cert=ca.client.cert, client_key=encrypted_key), "client_cert"),
    ]
    for options, why in cases:
        with pytest.raises(ValueError, match=why):
            check_tls(options)


def test_tls_document_keeps_the_client_key_encrypted(ca: TestCA) -> None:
    box = SecretBox("test-secret")
    options = TlsOptions(ca_bundle=ca.ca_pem, client_cert=ca.client.cert, client_key=ca.client.key)
    document = tls_document(options, box.encrypt)
    assert document["client_key"] != ca.client.key
    assert "PRIVATE KEY" not in str(document)
    assert document["ca_bundle"] == ca.ca_pem and "verify" not in document  # the default
    assert tls_from_document(document, box.decrypt) == options
    with pytest.raises(ValueError):
        tls_from_document(document, SecretBox("another-secret").decrypt)
    assert tls_document(TlsOptions(verify=False), box.encrypt) == {"verify": False}


def test_environment_proxies() -> None:
    env = EnvProxies(
        {
            "HTTPS_PROXY": "http://upper:3128",
            "https_proxy": "http://lower:3128",
            "ALL_PROXY": "socks5://all:1080",
            "NO_PROXY": "example.org, .corp.example ,10.0.0.0/8,::1,localhost:8080",
            "PATH": "/usr/bin",
        }
    )
    assert env.proxy_for("https://api.example.com/v1") == "http://lower:3128"  # lower wins
    assert env.proxy_for("http://api.example.com/v1") == "socks5://all:1080"
    for direct in (
        "https://example.org/v1",
        "https://api.example.org/v1",
        "https://x.corp.example/v1",
        "https://10.20.30.40/v1",
        "https://[::1]:8443/v1",
        "http://localhost:9999/v1",
    ):
        assert env.proxy_for(direct) is None, direct
    assert env.proxy_for("https://notexample.org/v1") == "http://lower:3128"
    assert (
        EnvProxies({"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}).proxy_for("https://a.example/")
        is None
    )
    assert EnvProxies({}).proxy_for("https://a.example/") is None


def test_an_unusable_environment_proxy_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTPS_PROXY"):
        EnvProxies({"HTTPS_PROXY": "proxy.internal:3128"})
