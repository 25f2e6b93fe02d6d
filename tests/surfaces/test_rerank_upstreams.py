"""``POST /v1/rerank`` through the gateway (httpx, as the seed's examples call it) to the
upstreams whose rerank differs from Jina's: SiliconFlow (documents as strings only, its
tokens in ``meta`` or, in older answers, a top-level ``tokens``), over real HTTP on loopback,
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
from fakes.media_upstream import FakeSiliconFlow, rerank_tokens, score
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


@pytest.fixture(autouse=True)
def _fresh(siliconflow: FakeSiliconFlow) -> None:
    siliconflow.reset()


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
