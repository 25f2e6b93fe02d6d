"""Management API: a channel's ``proxy`` and ``tls``. The proxy is stored encrypted and
shown with its password masked, the TLS client key stored encrypted and never shown; bad
values are a 400 saying what is wrong; a patch sets or clears them."""

from __future__ import annotations

import uuid

import pytest
from fakes.pki import TestCA
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump

PASSWORD = "pr0xy-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


def create(admin: Admin, **fields: object) -> dict[str, object]:
    body = {"name": "ch-" + uuid.uuid4().hex[:6], "type": "openai", "api_keys": ["sk-up"]}
    body["models"] = [unique_model("tr")]
    return ok(admin.http.post("/v1/admin/channels", json={**body, **fields}), 201)  # type: ignore[no-any-return]


def test_proxy_and_tls_are_stored_encrypted_and_shown_masked(
    admin: Admin, gateway: Gateway, ca: TestCA
) -> None:
    proxy = f"socks5h://alice:{PASSWORD}@proxy.internal:1080"
    tls = {"ca_bundle": ca.ca_pem, "client_cert": ca.client.cert, "client_key": ca.client.key}
    channel = create(admin, proxy=proxy, tls=tls)
    assert channel["proxy"] == "socks5h://alice:***@proxy.internal:1080"
    assert channel["tls"] == {
        "ca_bundle": ca.ca_pem,
        "client_cert": ca.client.cert,
        "client_key": "[set]",
    }
    for response in (
        admin.http.get(f"/v1/admin/channels/{channel['id']}"),
        admin.http.get("/v1/admin/channels"),
    ):
        assert PASSWORD not in response.text
        assert "PRIVATE KEY" not in response.text
    stored = table_dump(gateway.settings.database_url, "channels")
    assert str(channel["id"]) in stored
    assert PASSWORD not in stored and "proxy.internal" not in stored
    assert "PRIVATE KEY" not in stored
    assert "BEGIN CERTIFICATE" in stored  # certificates are public: stored as they are


def test_patch_sets_and_clears(admin: Admin) -> None:
    channel = create(admin)
    assert channel["proxy"] is None and channel["tls"] is None
    url = f"/v1/admin/channels/{channel['id']}"
    patched = ok(admin.http.patch(url, json={"proxy": "http://proxy.internal:3128"}))
    assert patched["proxy"] == "http://proxy.internal:3128"
    patched = ok(admin.http.patch(url, json={"tls": {"verify": False}}))
    assert patched["tls"] == {"verify": False}
    assert patched["proxy"] == "http://proxy.internal:3128"  # untouched
    cleared = ok(admin.http.patch(url, json={"proxy": None, "tls": None}))
    assert cleared["proxy"] is None and cleared["tls"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"proxy": "ftp://proxy:21"}, "scheme"),
        ({"proxy": "socks4://proxy:1080"}, "scheme"),
        ({"proxy": "proxy.internal:3128"}, "scheme"),
        ({"proxy": "socks5://proxy.internal"}, "port"),
        ({"proxy": "http://proxy:3128/some/path"}, "path"),
        ({"proxy": ""}, "proxy"),
        (
            {"tls": {"ca_bundle": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}},
            "ca_bundle",
        ),
        ({"tls": {"ca_bundle": "not pem"}}, "ca_bundle"),
        ({"tls": {"verify": "no"}}, "verify"),
        ({"tls": {"verify": True, "insecure": True}}, "insecure"),
        ({"tls": {"client_cert": "x"}}, "go together"),
        ({"tls": {"client_cert": "garbage", "client_key": "garbage"}}, "client_cert"),
        ({"tls": "verify=false"}, "tls"),
        ({"tls": {"ca_bundle": "é"}}, "ca_bundle"),
        ({"tls": {"ca_bundle": "\u0000"}}, "NUL"),
        ({"tls": {"client_cert": "é", "client_key": "ü"}}, "client_cert"),
        ({"proxy": "http://\u00e9:1/x"}, "path"),
        ({"proxy": "http://[::1:3128"}, "proxy"),
    ],
)
def test_bad_values_are_refused(admin: Admin, fields: dict[str, object], message: str) -> None:
    body = {"name": "bad-" + uuid.uuid4().hex[:6], "type": "openai", **fields}
    error = expect_error(admin.http.post("/v1/admin/channels", json=body), 400)
    assert message in error, error
    channel = create(admin)
    error = expect_error(admin.http.patch(f"/v1/admin/channels/{channel['id']}", json=fields), 400)
    assert message in error, error


def test_a_mismatched_client_key_is_refused(admin: Admin, ca: TestCA) -> None:
    other = TestCA("other")
    tls = {"client_cert": ca.client.cert, "client_key": other.client.key}
    error = expect_error(
        admin.http.post("/v1/admin/channels", json={"name": "mismatch", "tls": tls}), 400
    )
    assert "client_key" in error and "PRIVATE" not in error
