"""``POST /v1/rerank`` through the gateway (httpx, as the seed's examples call it) to the
upstreams whose rerank differs from Jina's: SiliconFlow (documents as strings only, its
tokens in ``meta`` or, in older answers, a top-level ``tokens``) and Volcengine's knowledge
service (Doubao rerank models: query-document pairs in, unranked scores out, every request
signed with an access key), over real HTTP on loopback,
on SQLite and on PostgreSQL: the request it gets, ordering, ``top_n``, ``return_documents``,
the tokens billed exactly, its errors in OpenAI's shape, and the channel test's probe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fakes.loopback import Behaviour
from fakes.media_upstream import FakeSiliconFlow, FakeViking, rerank_tokens, score
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows
from surfaces.admin_kit import ok

from airelay.money import usd_to_units

INPUT_PRICE = 1000  # USD per 1M tokens: a cost large enough to see per call
QUERY = "chinese ai models"
DOCUMENTS = [
    "DeepSeek released a new reasoning model",
    "The weather today is sunny",
    {"text": "Chinese AI models lead benchmarks"},
    "Zhipu AI announced GLM-4 models",
]
TEXTS = [d if isinstance(d, str) else d["text"] for d in DOCUMENTS]


@dataclass
class Reranker:
    model: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def siliconflow() -> Iterator[FakeSiliconFlow]:
    with FakeSiliconFlow() as fake:
        yield fake


@pytest.fixture(scope="module")
def viking() -> Iterator[FakeViking]:
    with FakeViking({"AKLTtest": "c2VjcmV0LXRlc3Q="}) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(siliconflow: FakeSiliconFlow, viking: FakeViking) -> None:
    siliconflow.reset()
    viking.reset()


def viking_channel(admin: Admin, viking: FakeViking, key: str) -> Reranker:
    model = unique_model("doubao-rerank")
    channel = admin.create_channel(
        type="vikingdb",
        base_url=viking.base_url,
        api_keys=[key],
        models=[],
        model_mapping={model: "doubao-seed-rerank"},
        price={"input": INPUT_PRICE, "output": 0},
    )
    user = admin.create_user(balance=10)
    return Reranker(model, admin.create_token(user["id"])["key"], user["id"], channel["id"])


@pytest.fixture
def doubao(admin: Admin, viking: FakeViking) -> Reranker:
    return viking_channel(admin, viking, "AKLTtest:c2VjcmV0LXRlc3Q=")


@pytest.fixture
def sf(admin: Admin, siliconflow: FakeSiliconFlow) -> Reranker:
    model = unique_model("bge")
    channel = admin.create_channel(
        type="siliconflow",
        base_url=siliconflow.base_url,
        api_keys=["sk-sf-test"],
        models=[],
        model_mapping={model: "BAAI/bge-reranker-v2-m3"},
        endpoints=["rerank"],
        price={"input": INPUT_PRICE, "output": 0},
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Reranker(model, key, user["id"], channel["id"])


def cost(tokens: int) -> int:
    return -(-tokens * usd_to_units(INPUT_PRICE) // 1_000_000)


def post(gateway: Gateway, key: str, body: Any) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/rerank",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def expected_order(top_n: int | None = None) -> list[int]:
    order = sorted(range(len(TEXTS)), key=lambda i: (-score(QUERY, TEXTS[i]), i))
    return order[:top_n] if top_n else order


@pytest.mark.parametrize("legacy", [False, True], ids=["meta", "top-level-tokens"])
def test_siliconflow_ordering_documents_and_exact_books(
    gateway: Gateway, sf: Reranker, siliconflow: FakeSiliconFlow, legacy: bool
) -> None:
    siliconflow.legacy_usage = legacy
    url = gateway.settings.database_url
    before = books(url, sf.user_id)
    body = {
        "model": sf.model,
        "query": QUERY,
        "documents": DOCUMENTS,
        "top_n": 3,
        "return_documents": True,
    }
    response = post(gateway, sf.key, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == sf.model
    assert [item["index"] for item in answer["results"]] == expected_order(3)
    assert [item["document"]["text"] for item in answer["results"]] == [
        TEXTS[i] for i in expected_order(3)
    ]
    tokens = rerank_tokens(QUERY, TEXTS)
    assert answer["usage"]["total_tokens"] == tokens == answer["meta"]["tokens_used"]
    sent = siliconflow.requests[-1]
    assert sent.path == "/v1/rerank" and sent.headers["authorization"] == "Bearer sk-sf-test"
    # Documents as strings: SiliconFlow refuses document objects.
    assert sent.body == {
        "model": "BAAI/bge-reranker-v2-m3",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 3,
        "return_documents": True,
    }
    after = wait_for_rows(url, sf.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == cost(tokens) > 0
    assert after.credits - after.usage_cost == after.spendable
    (row,) = usage_rows(url, sf.user_id)
    assert (row["prompt_tokens"], row["cost"], row["status"]) == (tokens, cost(tokens), 200)
    assert row["channel_id"] == sf.channel_id and row["endpoint"] == "/v1/rerank"


def test_siliconflow_without_documents_and_its_own_options(
    gateway: Gateway, sf: Reranker, siliconflow: FakeSiliconFlow
) -> None:
    body = {
        "model": sf.model,
        "query": QUERY,
        "documents": TEXTS,
        "max_chunks_per_doc": 512,
        "overlap_tokens": 40,
    }
    answer = post(gateway, sf.key, body).json()
    assert [item["index"] for item in answer["results"]] == expected_order()
    assert all("document" not in item for item in answer["results"])
    sent = siliconflow.requests[-1].body
    assert (sent["max_chunks_per_doc"], sent["overlap_tokens"]) == (512, 40)


def test_siliconflow_error_in_openai_shape_and_not_billed(
    gateway: Gateway, sf: Reranker, siliconflow: FakeSiliconFlow
) -> None:
    url = gateway.settings.database_url
    before = books(url, sf.user_id)
    siliconflow.script(Behaviour.error(400, "top_n must be >= 1"))
    response = post(gateway, sf.key, {"model": sf.model, "query": "q", "documents": ["a"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {
        "message": "top_n must be >= 1",
        "type": "invalid_request_error",
        "code": "20015",
    }
    after = books(url, sf.user_id)
    assert after.usage_cost == before.usage_cost and after.spendable == before.spendable


def test_siliconflow_rerank_channel_test(
    admin: Admin, sf: Reranker, siliconflow: FakeSiliconFlow
) -> None:
    result = ok(
        admin.http.post(f"/v1/admin/channels/{sf.channel_id}/test", json={"model": sf.model})
    )
    assert result["success"] is True and result["endpoint"] == "rerank", result
    assert siliconflow.requests[-1].body["documents"] == ["hi"]


@pytest.mark.parametrize("top_n", [None, 2])
def test_doubao_knowledge_rerank_ranked_by_the_gateway(
    gateway: Gateway, doubao: Reranker, viking: FakeViking, top_n: int | None
) -> None:
    url = gateway.settings.database_url
    before = books(url, doubao.user_id)
    body: dict[str, Any] = {
        "model": doubao.model,
        "query": QUERY,
        "documents": DOCUMENTS,
        "return_documents": True,
    }
    if top_n is not None:
        body["top_n"] = top_n
    response = post(gateway, doubao.key, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == doubao.model
    assert [item["index"] for item in answer["results"]] == expected_order(top_n)
    assert [item["document"]["text"] for item in answer["results"]] == [
        TEXTS[i] for i in expected_order(top_n)
    ]
    scores = [item["relevance_score"] for item in answer["results"]]
    assert scores == [score(QUERY, TEXTS[i]) for i in expected_order(top_n)]
    sent = viking.requests[-1]
    assert sent.path == "/api/knowledge/service/rerank"
    assert sent.body == {
        "datas": [{"query": QUERY, "content": text} for text in TEXTS],
        "rerank_model": "doubao-seed-rerank",
    }
    assert sent.headers["authorization"].startswith("HMAC-SHA256 Credential=AKLTtest/")
    assert "c2VjcmV0LXRlc3Q=" not in str(sent.headers)  # the secret only signs
    tokens = rerank_tokens(QUERY, TEXTS)
    assert answer["usage"]["total_tokens"] == tokens == answer["meta"]["tokens_used"]
    after = wait_for_rows(url, doubao.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == cost(tokens) > 0
    (row,) = usage_rows(url, doubao.user_id)
    assert (row["prompt_tokens"], row["status"]) == (tokens, 200)


def test_doubao_without_documents(gateway: Gateway, doubao: Reranker) -> None:
    answer = post(
        gateway, doubao.key, {"model": doubao.model, "query": QUERY, "documents": TEXTS}
    ).json()
    assert [item["index"] for item in answer["results"]] == expected_order()
    assert all("document" not in item for item in answer["results"])


def test_doubao_error_in_openai_shape_and_a_wrong_secret_is_refused_unbilled(
    gateway: Gateway, admin: Admin, doubao: Reranker, viking: FakeViking
) -> None:
    url = gateway.settings.database_url
    before = books(url, doubao.user_id)
    viking.script(Behaviour.error(400, "invalid request: datas too long", "1000003"))
    response = post(gateway, doubao.key, {"model": doubao.model, "query": "q", "documents": ["a"]})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "invalid request: datas too long",
        "type": "invalid_request_error",
        "code": "1000003",
    }
    wrong = viking_channel(admin, viking, "AKLTtest:not-the-secret")
    response = post(gateway, wrong.key, {"model": wrong.model, "query": "q", "documents": ["a"]})
    assert response.status_code >= 400
    assert "not-the-secret" not in response.text
    assert books(url, wrong.user_id).usage_cost == 0
    after = books(url, doubao.user_id)
    assert after.usage_cost == before.usage_cost and after.spendable == before.spendable


def test_a_vikingdb_key_of_the_wrong_shape_is_400(admin: Admin, viking: FakeViking) -> None:
    response = admin.http.post(
        "/v1/admin/channels",
        json={
            "name": "viking-bad",
            "type": "vikingdb",
            "base_url": viking.base_url,
            "api_keys": ["just-a-bearer-token"],
            "models": ["doubao-seed-rerank"],
        },
    )
    assert response.status_code == 400
    assert "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in response.text
    assert "just-a-bearer-token" not in response.text


def test_doubao_rerank_channel_test(admin: Admin, doubao: Reranker, viking: FakeViking) -> None:
    result = ok(
        admin.http.post(
            f"/v1/admin/channels/{doubao.channel_id}/test", json={"model": doubao.model}
        )
    )
    assert result["success"] is True and result["endpoint"] == "rerank", result
    assert viking.requests[-1].body["datas"] == [{"query": "hi", "content": "hi"}]
