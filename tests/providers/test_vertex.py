"""Vertex AI requests: the publisher model URL under the channel's project and region, the
Claude body reshaped for ``rawPredict``, the token per call from the cache, and the shapes of
keys and base URLs the management API takes."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest
from fakes.token_servers import FakeGoogleOAuth
from support.egress import DIRECT

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import CredentialPending, build, built
from airelay.providers.vertex import (
    TOKENS,
    VERTEX_ANTHROPIC_VERSION,
    Vertex,
    VertexAnthropic,
    service_account_info,
)

BASE = "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5"
GEMINI = Vertex()
CLAUDE = VertexAnthropic()


@pytest.fixture(scope="module")
def oauth() -> Iterator[FakeGoogleOAuth]:
    with FakeGoogleOAuth() as server:
        yield server


def test_gemini_urls_and_format() -> None:
    whole = GEMINI.head(BASE, "k", Endpoint.CHAT, "gemini-2.5-pro", stream=False)
    assert whole.url == BASE + "/publishers/google/models/gemini-2.5-pro:generateContent"
    streamed = GEMINI.head(BASE + "/", "k", Endpoint.CHAT, "gemini-2.5-pro", stream=True)
    assert streamed.url == (
        BASE + "/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert "Authorization" not in whole.headers  # per call, from the token cache
    assert GEMINI.formats == {Endpoint.CHAT: WireFormat.GEMINI}
    assert GEMINI.framing is Framing.SSE and GEMINI.per_call
    with pytest.raises(ValueError):
        GEMINI.head(BASE, "k", Endpoint.EMBEDDINGS, "m", stream=False)


def test_claude_urls_keep_the_version_after_the_at_sign() -> None:
    model = "claude-sonnet-4-5@20250929"
    whole = CLAUDE.head(BASE, "k", Endpoint.CHAT, model, stream=False)
    assert whole.url == BASE + "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    streamed = CLAUDE.head(BASE, "k", Endpoint.CHAT, model, stream=True)
    assert streamed.url.endswith("/claude-sonnet-4-5@20250929:streamRawPredict")
    assert CLAUDE.formats == {Endpoint.CHAT: WireFormat.ANTHROPIC}


def test_a_call_waits_for_the_first_token_then_carries_it(oauth: FakeGoogleOAuth) -> None:
    key = oauth.service_account().key_json
    body = orjson.dumps(
        {
            "model": "claude-sonnet-4-5@20250929",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )

    async def run() -> tuple[str, dict[str, object]]:
        with pytest.raises(CredentialPending):
            build(CLAUDE, BASE, key, Endpoint.CHAT, "m@1", body, stream=True, egress=DIRECT)
        request = await built(
            lambda: build(CLAUDE, BASE, key, Endpoint.CHAT, "m@1", body, stream=True, egress=DIRECT)
        )
        return request.headers["Authorization"], orjson.loads(request.body)

    authorization, sent = asyncio.run(run())
    assert authorization.startswith("Bearer ya29.fake.")
    assert sent["anthropic_version"] == VERTEX_ANTHROPIC_VERSION
    assert "model" not in sent and sent["stream"] is True
    assert TOKENS.header(key, DIRECT) == authorization  # cached for the next call


def test_keys_are_service_account_json_or_its_base64(oauth: FakeGoogleOAuth) -> None:
    key = oauth.service_account().key_json
    GEMINI.check_key(key)
    encoded = base64.b64encode(key.encode()).decode()
    GEMINI.check_key(encoded)
    assert service_account_info(encoded)["token_uri"] == oauth.token_uri


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("AIzaSyNotAServiceAccount", "service account"),
        ('{"type": "external_account"}', '"type": "service_account"'),
        ('{"type": "service_account", "private_key": "x"}', "client_email"),
        ('{"type": "service_account", "client_email": "a@b", "private_key": "x"}', "PEM"),
    ],
)
def test_other_keys_are_refused_without_being_echoed(key: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        GEMINI.check_key(key)
    assert message in str(refused.value)
    assert key not in str(refused.value)


@pytest.mark.parametrize(
    "base_url",
    [
        BASE,
        BASE + "/",
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global",
        "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/us-central1",
        "http://127.0.0.1:9000/gateway/v1/projects/p/locations/x",
    ],
)
def test_base_urls_that_name_a_project_and_location(base_url: str) -> None:
    GEMINI.check_base_url(base_url, frozenset({Endpoint.CHAT}))


@pytest.mark.parametrize(
    "base_url",
    [
        "https://us-central1-aiplatform.googleapis.com/v1",
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p",
        BASE + "/publishers/google",
        BASE + "?alt=sse",
    ],
)
def test_other_base_urls_are_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="projects/PROJECT/locations/REGION"):
        CLAUDE.check_base_url(base_url, frozenset({Endpoint.CHAT}))


def test_google_auth_is_imported_by_the_first_key_not_with_the_gateway() -> None:
    code = (
        "import sys\n"
        "import airelay.providers.presets\n"
        "print(sorted(m for m in ('google.auth', 'google.oauth2', 'requests') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
