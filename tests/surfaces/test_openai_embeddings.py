"""``POST /v1/embeddings`` through the gateway with the official OpenAI SDK as the client and
fake OpenAI upstreams behind it, over real HTTP on loopback, on SQLite and on PostgreSQL:
bytes passed through, the model renamed, usage read from the answer and billed exactly, one
usage row per call; failover; channels without ``embeddings`` never called; 400, 403, 404.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
import pytest
from fakes.openai_embeddings import DEFAULT_DIMENSIONS, vector
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows

from airelay.money import usd_to_units

INPUT_PRICE = 1000  # USD per 1M input tokens: a cost large enough to see per call
UPSTREAM_MODEL = "text-embedding-3-small"


@dataclass
class Embedder:
    model: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def second() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=("sk-second-upstream",), name="second") as fake:
        yield fake


@pytest.fixture
def embedder(admin: Admin, upstream: FakeOpenAI) -> Embedder:
    """A public model renamed to the upstream's by a channel that serves chat and embeddings."""
    model = unique_model("emb")
    channel = admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={model: UPSTREAM_MODEL},
        endpoints=["chat", "embeddings"],
        price={"input": INPUT_PRICE, "output": 0},
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Embedder(model, key, user["id"], channel["id"])


def sdk(gateway: Gateway, key: str, *, v1: bool = True) -> openai.OpenAI:
    base = gateway.url + ("/v1" if v1 else "")
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=20)


def cost(tokens: int) -> int:
    """What ``tokens`` input tokens cost at ``INPUT_PRICE``, in units, rounded up."""
    return -(-tokens * usd_to_units(INPUT_PRICE) // 1_000_000)


def raw_post(gateway: Gateway, key: str, body: Any, path: str = "/v1/embeddings") -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return httpx.post(
        gateway.url + path,
        content=content,
        json=None if content is not None else body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def test_float_vectors_renamed_model_and_exact_books(
    gateway: Gateway, embedder: Embedder, upstream: FakeOpenAI
) -> None:
    url = gateway.settings.database_url
    before = books(url, embedder.user_id)
    reply = sdk(gateway, embedder.key).embeddings.create(
        model=embedder.model, input="the quick brown fox", encoding_format="float"
    )
    assert reply.model == embedder.model  # the upstream's name never reaches the client
    assert [d.embedding for d in reply.data] == [vector("the quick brown fox")]
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (4, 4)
    sent = upstream.embeddings_requests[-1]
    assert sent.body == {
        "model": UPSTREAM_MODEL,
        "input": "the quick brown fox",
        "encoding_format": "float",
    }
    assert sent.headers["authorization"] == "Bearer sk-upstream-test"
    after = wait_for_rows(url, embedder.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == cost(4) > 0
    assert after.credits == before.credits
    assert after.credits - after.usage_cost == after.spendable
    (row,) = usage_rows(url, embedder.user_id)
    assert row["endpoint"] == "/v1/embeddings" and row["model"] == embedder.model
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (4, 0, cost(4))
    assert row["channel_id"] == embedder.channel_id and row["status"] == 200


def test_base64_is_the_sdk_default_and_passes_through(
    gateway: Gateway, embedder: Embedder, upstream: FakeOpenAI
) -> None:
    """The SDK asks for base64 unless told otherwise, and decodes it: the gateway passes the
    upstream's base64 on untouched."""
    reply = sdk(gateway, embedder.key).embeddings.create(model=embedder.model, input="hi")
    assert reply.data[0].embedding == vector("hi")
    assert upstream.embeddings_requests[-1].body["encoding_format"] == "base64"  # type: ignore[index]
    raw = raw_post(
        gateway, embedder.key, {"model": embedder.model, "input": "hi", "encoding_format": "base64"}
    )
    encoded = raw.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    assert list(struct.unpack(f"<{DEFAULT_DIMENSIONS}f", base64.b64decode(encoded))) == vector("hi")


@pytest.mark.parametrize(
    ("given", "vectors", "tokens"),
    [
        (["one two", "three"], [vector("one two"), vector("three")], 3),
        ([15339, 1917], [vector([15339, 1917])], 2),
        ([[1, 2, 3], [4]], [vector([1, 2, 3]), vector([4])], 4),
    ],
    ids=["strings", "token-ids", "token-id-lists"],
)
def test_input_shapes(
    gateway: Gateway,
    embedder: Embedder,
    upstream: FakeOpenAI,
    given: Any,
    vectors: list[list[float]],
    tokens: int,
) -> None:
    reply = sdk(gateway, embedder.key).embeddings.create(
        model=embedder.model, input=given, encoding_format="float"
    )
    assert [d.embedding for d in reply.data] == vectors
    assert [d.index for d in reply.data] == list(range(len(vectors)))
    assert upstream.embeddings_requests[-1].body["input"] == given  # type: ignore[index]
    (row,) = usage_rows(gateway.settings.database_url, embedder.user_id)
    assert (row["prompt_tokens"], row["cost"]) == (tokens, cost(tokens))


def test_dimensions_pass_through(
    gateway: Gateway, embedder: Embedder, upstream: FakeOpenAI
) -> None:
    reply = sdk(gateway, embedder.key).embeddings.create(
        model=embedder.model, input="hi", dimensions=3, encoding_format="float", user="u-1"
    )
    assert reply.data[0].embedding == vector("hi", 3)
    body = upstream.embeddings_requests[-1].body
    assert body is not None and (body["dimensions"], body["user"]) == (3, "u-1")


def test_without_the_v1_prefix(gateway: Gateway, embedder: Embedder) -> None:
    reply = sdk(gateway, embedder.key, v1=False).embeddings.create(
        model=embedder.model, input="hi", encoding_format="float"
    )
    assert reply.data[0].embedding == vector("hi")


def test_bytes_pass_through_when_nothing_changes(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("emb-raw")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["embeddings"],
    )
    raw = b'{"model": "' + model.encode() + b'",  "input": ["a"], "x_vendor": [1, 2.50]}'
    response = raw_post(gateway, admin.create_token()["key"], raw)
    assert response.status_code == 200, response.text
    assert upstream.embeddings_requests[-1].raw == raw


def test_failover_to_the_next_channel(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    second.reset()
    model = unique_model("emb-fo")
    for fake, key, priority in (
        (upstream, "sk-upstream-test", 1),
        (second, "sk-second-upstream", 2),
    ):
        admin.create_channel(
            base_url=fake.base_url,
            api_keys=[key],
            models=[model],
            endpoints=["embeddings"],
            priority=priority,
            price={"input": INPUT_PRICE, "output": 0},
        )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    upstream.script(Behaviour.error(503))
    reply = sdk(gateway, key).embeddings.create(model=model, input="a b", encoding_format="float")
    assert reply.data[0].embedding == vector("a b")
    assert len(upstream.embeddings_requests) == 1 and len(second.embeddings_requests) == 1
    (row,) = usage_rows(gateway.settings.database_url, user["id"])
    assert (row["prompt_tokens"], row["cost"], row["status"]) == (2, cost(2), 200)
    # Both failing: 502, nothing charged.
    upstream.script(Behaviour.error(500))
    second.script(Behaviour.error(500))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, key).embeddings.create(model=model, input="a b")
    assert caught.value.status_code == 502
    after = books(gateway.settings.database_url, user["id"])
    assert after.usage_rows == 1 and after.usage_cost == cost(2)
    assert after.credits - after.usage_cost == after.spendable


def test_a_chat_only_channel_never_gets_the_call(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, second: FakeOpenAI
) -> None:
    second.reset()
    model = unique_model("emb-mixed")
    admin.create_channel(  # first choice, but chat only (the openai type's default)
        base_url=second.base_url, api_keys=["sk-second-upstream"], models=[model], priority=1
    )
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["embeddings"],
        priority=2,
    )
    key = admin.create_token()["key"]
    for _ in range(3):
        sdk(gateway, key).embeddings.create(model=model, input="x", encoding_format="float")
    assert not second.requests and len(upstream.embeddings_requests) == 3
    # A model whose channels all serve chat only: 503, and still no call upstream.
    chat_only = unique_model("chat-only")
    admin.create_channel(
        base_url=second.base_url, api_keys=["sk-second-upstream"], models=[chat_only]
    )
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway, key).embeddings.create(model=chat_only, input="x")
    assert caught.value.status_code == 503
    assert "embeddings" in caught.value.message
    assert not second.requests


def test_a_key_without_the_permission_gets_403(
    gateway: Gateway, admin: Admin, embedder: Embedder, upstream: FakeOpenAI
) -> None:
    chat_only = admin.create_token(permissions=["chat"])["key"]
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(gateway, chat_only).embeddings.create(model=embedder.model, input="x")
    assert "'embeddings' permission" in caught.value.message
    assert not upstream.embeddings_requests
    # ... and one with only that permission cannot chat.
    embeddings_only = admin.create_token(permissions=["embeddings"])["key"]
    sdk(gateway, embeddings_only).embeddings.create(model=embedder.model, input="x")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, embeddings_only).chat.completions.create(
            model=embedder.model, messages=[{"role": "user", "content": "hi"}]
        )


def test_unknown_model_is_404(gateway: Gateway, embedder: Embedder) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(gateway, embedder.key).embeddings.create(model=unique_model("nope"), input="x")
    assert "does not exist" in caught.value.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        ([1, 2], "JSON object"),
        ({"input": "x"}, "'model'"),
        ({"model": "MODEL"}, "'input' is required"),
        ({"model": "MODEL", "input": ""}, "empty string"),
        ({"model": "MODEL", "input": []}, "'input'"),
        ({"model": "MODEL", "input": ["a", ""]}, "non-empty"),
        ({"model": "MODEL", "input": ["a", 1]}, "non-empty"),
        ({"model": "MODEL", "input": [1, -2]}, "token ids"),
        ({"model": "MODEL", "input": [[1], []]}, "token-id array"),
        ({"model": "MODEL", "input": [{"text": "a"}]}, "'input'"),
        ({"model": "MODEL", "input": ["a"] * 2049}, "at most 2048"),
        ({"model": "MODEL", "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "MODEL", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "MODEL", "input": "a", "dimensions": True}, "dimensions"),
        ({"model": "MODEL", "input": "a", "user": 5}, "'user'"),
    ],
)
def test_bad_bodies_are_400_in_openai_shape(
    gateway: Gateway, embedder: Embedder, upstream: FakeOpenAI, body: Any, fragment: str
) -> None:
    if isinstance(body, dict) and body.get("model") == "MODEL":
        body = {**body, "model": embedder.model}
    response = raw_post(gateway, embedder.key, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(response.json()) == {"error"} and error["type"] == "invalid_request_error"
    assert fragment in error["message"]
    assert response.headers["x-request-id"]
    assert not upstream.embeddings_requests


def test_model_list_unchanged(gateway: Gateway, admin: Admin, embedder: Embedder) -> None:
    """The model list reads the chat routes, as before: an embeddings model whose channel
    also serves chat is listed once."""
    names = [m.id for m in sdk(gateway, embedder.key).models.list()]
    assert names.count(embedder.model) == 1
    assert names == sorted(names)


def test_reserved_up_front_from_the_input_size(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    """Token ids are the densest input (two bytes each): the reservation bounds the prompt
    by half the body's bytes, so a balance below that bound is refused (402) before any
    upstream call, and one that covers it pays the exact cost."""
    model = unique_model("emb-reserve")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["embeddings"],
        price={"input": 1_000_000, "output": 0},  # one dollar per token
    )
    ids = list(range(1, 11)) * 10  # 100 ids, nearly all single-digit
    raw = orjson.dumps({"model": model, "input": ids})
    bound = -(-len(raw) // 2)  # tokens the reservation may have to pay for
    assert bound > len(ids) > -(-len(raw) // 3)  # the chat bound would be too low here
    poor = admin.create_user(balance=bound - 1)
    refused = raw_post(gateway, admin.create_token(poor["id"])["key"], raw)
    assert refused.status_code == 402, refused.text
    assert not upstream.embeddings_requests
    enough = admin.create_user(balance=bound)
    response = raw_post(gateway, admin.create_token(enough["id"])["key"], raw)
    assert response.status_code == 200, response.text
    url = gateway.settings.database_url
    after = wait_for_rows(url, enough["id"], 1)
    assert after.usage_cost == usd_to_units(len(ids))
    assert after.credits - after.usage_cost == after.spendable == usd_to_units(bound - len(ids))
