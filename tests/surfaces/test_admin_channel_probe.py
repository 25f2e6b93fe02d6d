"""The channel test probes the endpoint asked for (``endpoint`` in the body or the query;
the channel's first by default): a one-token chat turn, a one-word embeddings input or a
one-document rerank (in the upstream's own shape), built and sent as a relayed call is;
images and audio by the provider's free model list; an endpoint the channel does not serve
is a 400."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.loopback import Behaviour
from fakes.media_upstream import FakeDashScope, FakeOpenAIMedia
from fakes.ollama_upstream import FakeOllama
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from surfaces.admin_kit import expect_error, ok


@pytest.fixture(scope="module")
def media() -> Iterator[FakeOpenAIMedia]:
    with FakeOpenAIMedia() as fake:
        yield fake


@pytest.fixture(scope="module")
def dashscope() -> Iterator[FakeDashScope]:
    with FakeDashScope() as fake:
        yield fake


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


def _channel(admin: Admin, upstream: FakeOpenAI, **fields: object) -> str:
    channel = admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[unique_model("probe")],
        **fields,
    )
    return str(channel["id"])


def test_default_is_the_first_endpoint(admin: Admin, upstream: FakeOpenAI) -> None:
    chat = _channel(admin, upstream, endpoints=["chat", "embeddings"])
    result = ok(admin.http.post(f"/v1/admin/channels/{chat}/test"))
    assert result["success"] is True and result["endpoint"] == "chat"
    assert upstream.chat_requests[-1].body["max_tokens"] == 1
    embeddings_only = _channel(admin, upstream, endpoints=["embeddings"])
    result = ok(admin.http.post(f"/v1/admin/channels/{embeddings_only}/test"))
    assert result["success"] is True and result["endpoint"] == "embeddings", result
    assert upstream.embeddings_requests[-1].body["input"] == "hi"


def test_endpoint_by_body_or_query(admin: Admin, upstream: FakeOpenAI) -> None:
    channel = _channel(admin, upstream, endpoints=["chat", "embeddings"])
    url = f"/v1/admin/channels/{channel}/test"
    before = len(upstream.embeddings_requests)
    result = ok(admin.http.post(url, json={"endpoint": "embeddings"}))
    assert result["success"] is True and result["endpoint"] == "embeddings"
    result = ok(admin.http.post(url, params={"endpoint": "embeddings"}))
    assert result["success"] is True
    assert len(upstream.embeddings_requests) == before + 2


def test_a_failed_probe_says_why(admin: Admin, upstream: FakeOpenAI) -> None:
    channel = _channel(admin, upstream, endpoints=["embeddings"])
    upstream.script(Behaviour.error(500, "boom"))
    response = admin.http.post(f"/v1/admin/channels/{channel}/test")
    result = ok(response)
    assert result["success"] is False and result["status_code"] == 500
    assert "sk-upstream-test" not in response.text


def test_unserved_unknown_or_unprobed_endpoints_are_400(admin: Admin, upstream: FakeOpenAI) -> None:
    chat_only = _channel(admin, upstream)
    url = f"/v1/admin/channels/{chat_only}/test"
    expect_error(admin.http.post(url, json={"endpoint": "embeddings"}), 400)
    expect_error(admin.http.post(url, json={"endpoint": "teleport"}), 400)
    expect_error(admin.http.post(url, json={"endpoint": 3}), 400)


@pytest.mark.parametrize("endpoint", ["images", "audio"])
def test_images_and_audio_are_probed_by_the_free_model_list(
    admin: Admin, upstream: FakeOpenAI, endpoint: str
) -> None:
    """A speech or an image would be billed upstream, a transcription needs a file: the
    probe is ``GET /models`` with the channel's key, and nothing is generated."""
    listed, unlisted = upstream.models[0], unique_model("unlisted")
    channel = admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[listed, unlisted],
        endpoints=[endpoint],
    )["id"]
    url = f"/v1/admin/channels/{channel}/test"
    before = len(upstream.requests)
    result = ok(admin.http.post(url, json={"model": listed}))
    assert result["success"] is True and result["endpoint"] == endpoint, result
    assert "message" not in result and result["status_code"] == 200
    (sent,) = upstream.requests[before:]
    assert (sent.method, sent.path) == ("GET", "/v1/models")
    assert sent.headers["authorization"] == "Bearer sk-upstream-test"
    # A model the list does not name: the channel works, the answer says so.
    noted = ok(admin.http.post(url, json={"model": unlisted}))
    assert noted["success"] is True and f"does not name '{unlisted}'" in noted["message"]
    upstream.script(Behaviour.error(401, "Incorrect API key provided"))
    failed = ok(admin.http.post(url, json={"model": listed}))
    assert failed["success"] is False and failed["status_code"] == 401
    assert "Incorrect API key" in failed["message"] and "sk-upstream-test" not in failed["message"]


def test_rerank_is_probed_in_each_upstream_shape(
    admin: Admin, media: FakeOpenAIMedia, dashscope: FakeDashScope
) -> None:
    jina = _channel(admin, media, endpoints=["rerank"])
    result = ok(admin.http.post(f"/v1/admin/channels/{jina}/test"))
    assert result["success"] is True and result["endpoint"] == "rerank", result
    assert media.requests[-1].body["documents"] == ["hi"]
    qwen = admin.create_channel(
        type="qwen",
        base_url=dashscope.base_url,
        api_keys=["sk-dashscope-test"],
        models=["gte-rerank"],
        endpoints=["rerank"],
    )["id"]
    result = ok(admin.http.post(f"/v1/admin/channels/{qwen}/test"))
    assert result["success"] is True, result
    assert dashscope.requests[-1].body["input"] == {"query": "hi", "documents": ["hi"]}


def test_a_keyless_ollama_channel_is_probed(admin: Admin, ollama: FakeOllama) -> None:
    channel = admin.create_channel(type="ollama", base_url=ollama.base_url, models=["llama3.2"])
    result = ok(admin.http.post(f"/v1/admin/channels/{channel['id']}/test"))
    assert result["success"] is True, result
    sent = ollama.chat_requests[-1]
    assert "authorization" not in sent.headers
    assert sent.body["stream"] is False and sent.body["options"] == {"num_predict": 1}
