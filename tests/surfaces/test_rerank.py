"""``POST /v1/rerank`` through the gateway (httpx, as the seed's examples call it), against
a Jina/Cohere-style fake and DashScope's native rerank fake, over real HTTP on loopback, on
SQLite and on PostgreSQL: ordering, ``top_n``, ``return_documents``, the model renamed,
tokens billed exactly (counted offline when the upstream reports none), bad bodies, an
unknown model, a key without the ``rerank`` permission, an upstream error in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fakes.loopback import Behaviour
from fakes.media_upstream import FakeDashScope, FakeOpenAIMedia, rerank_tokens, score
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows

from airelay.money import usd_to_units

INPUT_PRICE = 1000  # USD per 1M tokens: a cost large enough to see per call
PER_SEARCH = 0.01  # the per-request price: how a per-search price is set
QUERY = "chinese ai models"
DOCUMENTS = [
    "DeepSeek released a new reasoning model",
    "The weather today is sunny",
    "Chinese AI models lead benchmarks",
    {"text": "Zhipu AI announced GLM-4 models"},
]
TEXTS = [d if isinstance(d, str) else d["text"] for d in DOCUMENTS]


@dataclass
class Reranker:
    model: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def media() -> Iterator[FakeOpenAIMedia]:
    with FakeOpenAIMedia() as fake:
        yield fake


@pytest.fixture(scope="module")
def dashscope() -> Iterator[FakeDashScope]:
    with FakeDashScope() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(media: FakeOpenAIMedia, dashscope: FakeDashScope) -> None:
    media.reset()
    dashscope.reset()


def _reranker(admin: Admin, **channel: Any) -> Reranker:
    model = unique_model("rerank")
    created = admin.create_channel(
        api_keys=channel.pop("api_keys", ["sk-upstream-test"]),
        models=[],
        model_mapping={model: channel.pop("upstream_model")},
        endpoints=["chat", "rerank"],
        price={"input": INPUT_PRICE, "output": 0, "per_request": PER_SEARCH},
        **channel,
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Reranker(model, key, user["id"], created["id"])


@pytest.fixture
def jina(admin: Admin, media: FakeOpenAIMedia) -> Reranker:
    return _reranker(
        admin, type="openai", base_url=media.base_url, upstream_model="jina-reranker-v2"
    )


@pytest.fixture
def qwen(admin: Admin, dashscope: FakeDashScope) -> Reranker:
    return _reranker(
        admin,
        type="qwen",
        base_url=dashscope.base_url,
        api_keys=["sk-dashscope-test"],
        upstream_model="gte-rerank",
    )


def cost(tokens: int) -> int:
    """``tokens`` at ``INPUT_PRICE`` plus the per-search price, in units, rounded up once."""
    per_million = tokens * usd_to_units(INPUT_PRICE) + usd_to_units(PER_SEARCH) * 1_000_000
    return -(-per_million // 1_000_000)


def post(gateway: Gateway, key: str, body: Any, path: str = "/v1/rerank") -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return httpx.post(
        gateway.url + path,
        content=content,
        json=None if content is not None else body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def expected_order(top_n: int | None = None) -> list[int]:
    order = sorted(range(len(TEXTS)), key=lambda i: (-score(QUERY, TEXTS[i]), i))
    return order[:top_n] if top_n else order


@pytest.mark.parametrize("reranker", ["jina", "qwen"])
def test_ordering_top_n_documents_and_exact_books(
    gateway: Gateway, request: pytest.FixtureRequest, reranker: str
) -> None:
    r: Reranker = request.getfixturevalue(reranker)
    url = gateway.settings.database_url
    before = books(url, r.user_id)
    body = {
        "model": r.model,
        "query": QUERY,
        "documents": DOCUMENTS,
        "top_n": 3,
        "return_documents": True,
    }
    response = post(gateway, r.key, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == r.model  # the upstream's name never reaches the client
    results = answer["results"]
    assert [item["index"] for item in results] == expected_order(3)
    scores = [item["relevance_score"] for item in results]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert [item["document"]["text"] for item in results] == [TEXTS[i] for i in expected_order(3)]
    tokens = rerank_tokens(QUERY, TEXTS)
    assert answer["usage"]["total_tokens"] == tokens
    after = wait_for_rows(url, r.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == cost(tokens)
    assert after.credits - after.usage_cost == after.spendable
    (row,) = usage_rows(url, r.user_id)
    assert row["endpoint"] == "/v1/rerank" and row["model"] == r.model
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (
        tokens,
        0,
        cost(tokens),
    )
    assert row["channel_id"] == r.channel_id and row["status"] == 200


def test_jina_gets_the_request_as_sent(
    gateway: Gateway, jina: Reranker, media: FakeOpenAIMedia
) -> None:
    body = {"model": jina.model, "query": QUERY, "documents": DOCUMENTS}
    answer = post(gateway, jina.key, body).json()
    assert [item["index"] for item in answer["results"]] == expected_order()
    sent = media.requests[-1]
    assert sent.path == "/v1/rerank" and sent.api_key == "sk-upstream-test"
    assert sent.body == {**body, "model": "jina-reranker-v2"}


def test_dashscope_gets_its_native_shape(
    gateway: Gateway, qwen: Reranker, dashscope: FakeDashScope
) -> None:
    body = {"model": qwen.model, "query": QUERY, "documents": DOCUMENTS, "top_n": 2}
    answer = post(gateway, qwen.key, body).json()
    assert [item["index"] for item in answer["results"]] == expected_order(2)
    assert all("document" not in item for item in answer["results"])
    assert answer["meta"]["tokens_used"] == rerank_tokens(QUERY, TEXTS)
    sent = dashscope.requests[-1]
    assert sent.path == "/api/v1/services/rerank/text-rerank/text-rerank"
    assert sent.api_key == "sk-dashscope-test"
    assert sent.body == {
        "model": "gte-rerank",
        "input": {"query": QUERY, "documents": TEXTS},
        "parameters": {"return_documents": False, "top_n": 2},
    }


def test_dashscope_error_in_openai_shape(
    gateway: Gateway, qwen: Reranker, dashscope: FakeDashScope
) -> None:
    before = books(gateway.settings.database_url, qwen.user_id)
    dashscope.script(Behaviour.error(400, "Range of top_n should be [1, 500]", "InvalidParameter"))
    response = post(gateway, qwen.key, {"model": qwen.model, "query": "q", "documents": ["a"]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Range of top_n should be [1, 500]"
    assert response.json()["error"]["code"] == "InvalidParameter"
    after = books(gateway.settings.database_url, qwen.user_id)
    assert after.usage_cost == before.usage_cost and after.spendable == before.spendable


def test_usage_counted_when_the_upstream_reports_none(
    gateway: Gateway, jina: Reranker, media: FakeOpenAIMedia
) -> None:
    media.report_rerank_usage = False
    url = gateway.settings.database_url
    before = books(url, jina.user_id)
    answer = post(gateway, jina.key, {"model": jina.model, "query": QUERY, "documents": TEXTS})
    assert answer.status_code == 200
    counted = answer.json()["usage"]["total_tokens"]
    assert counted > 0 and answer.json()["meta"]["tokens_used"] == counted
    after = wait_for_rows(url, jina.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == cost(counted)  # what the client is told


def test_a_chat_only_channel_never_gets_a_rerank(
    gateway: Gateway, admin: Admin, media: FakeOpenAIMedia
) -> None:
    model = unique_model("chat-only")
    admin.create_channel(
        type="openai", base_url=media.base_url, api_keys=["sk-upstream-test"], models=[model]
    )
    key = admin.create_token(admin.create_user(balance=10)["id"])["key"]
    response = post(gateway, key, {"model": model, "query": "q", "documents": ["a"]})
    assert response.status_code == 503, response.text
    assert "No channel serves the rerank endpoint" in response.json()["error"]["message"]
    assert not media.requests


def test_unknown_model_is_404_in_openai_shape(gateway: Gateway, jina: Reranker) -> None:
    response = post(
        gateway, jina.key, {"model": unique_model("nope"), "query": "q", "documents": ["a"]}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error) and "does not exist" in error["message"]


def test_a_key_without_the_permission_gets_403(
    gateway: Gateway, admin: Admin, jina: Reranker, media: FakeOpenAIMedia
) -> None:
    chat_only = admin.create_token(jina.user_id, permissions=["chat", "embeddings"])["key"]
    response = post(gateway, chat_only, {"model": jina.model, "query": "q", "documents": ["a"]})
    assert response.status_code == 403
    assert "'rerank' permission" in response.json()["error"]["message"]
    assert not media.requests
    rerank_only = admin.create_token(jina.user_id, permissions=["rerank"])["key"]
    assert (
        post(
            gateway, rerank_only, {"model": jina.model, "query": "q", "documents": ["a"]}
        ).status_code
        == 200
    )


def test_without_the_v1_prefix(gateway: Gateway, jina: Reranker) -> None:
    body = {"model": jina.model, "query": "q", "documents": ["a"]}
    assert post(gateway, jina.key, body, path="/rerank").status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        ([1], "JSON object"),
        ({"query": "q", "documents": ["a"]}, "'model'"),
        ({"model": "MODEL", "documents": ["a"]}, "'query'"),
        ({"model": "MODEL", "query": "q"}, "'documents'"),
        ({"model": "MODEL", "query": "q", "documents": []}, "'documents'"),
        ({"model": "MODEL", "query": "q", "documents": [None]}, "'documents' items"),
        ({"model": "MODEL", "query": "q", "documents": ["a"], "top_n": 0}, "'top_n'"),
        (
            {"model": "MODEL", "query": "q", "documents": ["a"], "return_documents": 1},
            "return_documents",
        ),
    ],
)
def test_bad_bodies_are_400_in_openai_shape(
    gateway: Gateway, jina: Reranker, media: FakeOpenAIMedia, body: Any, fragment: str
) -> None:
    if isinstance(body, dict) and body.get("model") == "MODEL":
        body = {**body, "model": jina.model}
    response = post(gateway, jina.key, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert fragment in error["message"] and error["type"] == "invalid_request_error"
    assert not media.requests
