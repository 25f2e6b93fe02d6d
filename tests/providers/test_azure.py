"""Azure OpenAI requests: deployments URLs with the API version from ``base_url`` (or the
default), v1 URLs, ``api-key`` for an API key and nothing per call, Entra ID keys in both
shapes, and what the management API refuses."""

from __future__ import annotations

import pytest
from support.egress import NOWHERE

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.azure import API_VERSION, AUTHORITY, Azure, Entra, entra

AZURE = Azure()
ENDPOINT = "https://contoso.openai.azure.com"
API_KEY = "0123456789abcdef0123456789abcdef"
ENTRA_KEY = "72f988bf-86f1-41af-91ab-2d7cd011db47:11111111-2222-3333-4444-555555555555:Q~a:b.c"


@pytest.mark.parametrize(
    ("base_url", "endpoint", "url"),
    [
        (
            ENDPOINT,
            Endpoint.CHAT,
            f"{ENDPOINT}/openai/deployments/gpt4o%2Fprod/chat/completions?api-version={API_VERSION}",
        ),
        (
            ENDPOINT + "/openai/?api-version=2025-04-01-preview",
            Endpoint.EMBEDDINGS,
            f"{ENDPOINT}/openai/deployments/gpt4o%2Fprod/embeddings?api-version=2025-04-01-preview",
        ),
        (ENDPOINT + "/openai/v1", Endpoint.CHAT, f"{ENDPOINT}/openai/v1/chat/completions"),
        (ENDPOINT + "/openai/v1/", Endpoint.RESPONSES, f"{ENDPOINT}/openai/v1/responses"),
        (
            ENDPOINT + "/openai/v1?api-version=preview",
            Endpoint.COMPACT,
            f"{ENDPOINT}/openai/v1/responses/compact?api-version=preview",
        ),
    ],
)
def test_urls(base_url: str, endpoint: Endpoint, url: str) -> None:
    assert AZURE.head(base_url, API_KEY, endpoint, "gpt4o/prod", stream=False).url == url


def test_an_api_key_goes_in_api_key_and_adds_nothing_per_call() -> None:
    head = AZURE.head(ENDPOINT, API_KEY, Endpoint.CHAT, "d", stream=True)
    assert head.headers["api-key"] == API_KEY and "Authorization" not in head.headers
    finished = AZURE.finish(head, API_KEY, b"{}", NOWHERE)
    assert finished.body == b"{}" and dict(finished.fields) == {}


def test_an_entra_key_sends_no_api_key() -> None:
    head = AZURE.head(ENDPOINT, ENTRA_KEY, Endpoint.CHAT, "d", stream=False)
    assert "api-key" not in head.headers


def test_the_formats_are_openais() -> None:
    assert AZURE.formats[Endpoint.CHAT] is WireFormat.OPENAI
    assert AZURE.formats[Endpoint.RESPONSES] is WireFormat.RESPONSES
    assert AZURE.formats[Endpoint.EMBEDDINGS] is WireFormat.OPENAI_EMBEDDINGS
    with pytest.raises(ValueError):
        AZURE.head(ENDPOINT, API_KEY, Endpoint.IMAGES, "d", stream=False)
    with pytest.raises(ValueError, match="v1"):
        AZURE.head(ENDPOINT, API_KEY, Endpoint.RESPONSES, "d", stream=False)


def test_entra_keys_in_both_shapes() -> None:
    colon = entra(ENTRA_KEY)
    assert colon == Entra(
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "11111111-2222-3333-4444-555555555555",
        "Q~a:b.c",  # a secret may hold a colon: only the first two split
        AUTHORITY,
    )
    assert colon.token_url == (
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
    )
    document = (
        '{"tenant_id": "contoso.onmicrosoft.com", "client_id": "c1", "client_secret": "s",'
        ' "authority": "https://login.microsoftonline.us/"}'
    )
    parsed = entra(document)
    assert parsed is not None
    assert parsed.token_url == (
        "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert entra(API_KEY) is None


@pytest.mark.parametrize(
    "key",
    [
        "tenant:client",
        "tenant::secret",
        "ten ant:client:secret",
        '{"tenant_id": "t", "client_id": "c"}',
        '{"tenant_id": "t", "client_id": "c", "client_secret": "s", "scope": "x"}',
        '{"tenant_id": "t", "client_id": "c", "client_secret": "s", "authority": "ftp://x"}',
        "{not json",
    ],
)
def test_malformed_keys_are_refused_without_being_echoed(key: str) -> None:
    with pytest.raises(ValueError) as refused:
        AZURE.check_key(key)
    assert key not in str(refused.value)


@pytest.mark.parametrize(
    ("base_url", "endpoints", "message"),
    [
        (ENDPOINT + "?api-version=2024-13", {Endpoint.CHAT}, "api-version"),
        (ENDPOINT + "?api-version=2024-10-21&x=1", {Endpoint.CHAT}, "no query"),
        (ENDPOINT, {Endpoint.CHAT, Endpoint.RESPONSES}, "/openai/v1"),
    ],
)
def test_base_urls_refused(base_url: str, endpoints: set[Endpoint], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AZURE.check_base_url(base_url, frozenset(endpoints))


def test_base_urls_taken() -> None:
    AZURE.check_base_url(ENDPOINT + "?api-version=2024-10-21", frozenset({Endpoint.CHAT}))
    AZURE.check_base_url(ENDPOINT + "/openai/v1", frozenset({Endpoint.RESPONSES}))
