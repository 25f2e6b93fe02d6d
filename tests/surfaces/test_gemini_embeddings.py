"""Gemini embeddings (``:embedContent``, ``:batchEmbedContents``) through the gateway, both
ways with OpenAI's: the google-genai SDK on an OpenAI-compatible channel and on a Gemini
channel, the OpenAI SDK on a Gemini channel (floats, base64, ``dimensions``), each billed
on its input (counted by the gateway when the upstream reports nothing), over real HTTP on
loopback with fakes of both APIs."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fakes.gemini_upstream import FakeGemini
from fakes.openai_embeddings import vector
from fakes.openai_upstream import FakeOpenAI
from google import genai
from google.genai import errors, types
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows, wait_for_rows

from airelay.billing.tokens import estimate_tokens
from airelay.money import usd_to_units

INPUT_PRICE = 1000  # USD per 1M input tokens


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def google(gateway: Gateway, key: str) -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta")
    return genai.Client(api_key=key, http_options=options)


def cost(tokens: int) -> int:
    return -(-tokens * usd_to_units(INPUT_PRICE) // 1_000_000)


def _caller(admin: Admin, **channel: Any) -> tuple[str, str, str]:
    model = unique_model("gemb")
    admin.create_channel(models=[model], price={"input": INPUT_PRICE, "output": 0}, **channel)
    user = admin.create_user(balance=10)
    return model, str(admin.create_token(user["id"])["key"]), str(user["id"])


@pytest.fixture
def on_openai(admin: Admin, upstream: FakeOpenAI) -> tuple[str, str, str]:
    return _caller(
        admin,
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        endpoints=["embeddings"],
    )


@pytest.fixture
def on_gemini(admin: Admin, gemini_fake: FakeGemini) -> tuple[str, str, str]:
    return _caller(
        admin,
        type="gemini",
        base_url=gemini_fake.base_url,
        api_keys=["AIza-upstream-test"],
        endpoints=["embeddings"],
    )


def test_google_sdk_embed_content_through_an_openai_compatible_channel(
    gateway: Gateway, upstream: FakeOpenAI, on_openai: tuple[str, str, str]
) -> None:
    model, key, user_id = on_openai
    client = google(gateway, key)  # kept: a dropped client closes its connection pool
    reply = client.models.embed_content(
        model=model,
        contents=["the quick brown fox", "hello"],
        config=types.EmbedContentConfig(output_dimensionality=4, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert reply.embeddings is not None
    assert [e.values for e in reply.embeddings] == [
        vector("the quick brown fox", 4),
        vector("hello", 4),
    ]
    sent = upstream.embeddings_requests[-1].body
    assert sent == {
        "model": model,
        "input": ["the quick brown fox", "hello"],
        "encoding_format": "float",
        "dimensions": 4,
    }
    # The upstream's count (one token per word in the fake) is billed, and told back.
    url = gateway.settings.database_url
    wait_for_rows(url, user_id, 1)
    (row,) = usage_rows(url, user_id)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (5, 0, cost(5))
    assert row["endpoint"] == "/v1beta/models/{model}:batchEmbedContents"


def test_embed_content_single_through_both_channel_kinds(
    gateway: Gateway, on_openai: tuple[str, str, str], on_gemini: tuple[str, str, str]
) -> None:
    for model, key, _ in (on_openai, on_gemini):
        answer = httpx.post(
            f"{gateway.url}/v1beta/models/{model}:embedContent",
            headers={"x-goog-api-key": key},
            json={"content": {"parts": [{"text": "one two"}, {"text": "three"}]}},
            timeout=20,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["embedding"]["values"] == vector("one two\nthree")
        assert body["usageMetadata"]["promptTokenCount"] > 0


def test_google_sdk_on_a_gemini_channel_passes_through_and_is_counted_by_the_gateway(
    gateway: Gateway, gemini_fake: FakeGemini, on_gemini: tuple[str, str, str]
) -> None:
    model, key, user_id = on_gemini
    texts = ["DeepSeek released a model", "天气很好"]
    client = google(gateway, key)
    reply = client.models.embed_content(model=model, contents=texts)
    assert reply.embeddings is not None
    assert [e.values for e in reply.embeddings] == [vector(t) for t in texts]
    sent = gemini_fake.requests[-1]
    assert sent.path.endswith(f"/models/{model}:batchEmbedContents")
    assert sent.headers["x-goog-api-key"] == "AIza-upstream-test"
    # The fake counts nothing: the gateway counts the input, bills it, and tells it.
    url = gateway.settings.database_url
    wait_for_rows(url, user_id, 1)
    (row,) = usage_rows(url, user_id)
    expected = estimate_tokens("\n".join(texts), model)
    assert (row["prompt_tokens"], row["cost"]) == (expected, cost(expected))


def test_openai_sdk_on_a_gemini_channel_floats_base64_and_dimensions(
    gateway: Gateway, gemini_fake: FakeGemini, on_gemini: tuple[str, str, str]
) -> None:
    model, key, user_id = on_gemini
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    floats = client.embeddings.create(
        model=model, input=["alpha beta", "gamma"], encoding_format="float", dimensions=3
    )
    assert [d.embedding for d in floats.data] == [vector("alpha beta", 3), vector("gamma", 3)]
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.model == model
    sent = gemini_fake.requests[-1].body
    assert sent == {
        "requests": [
            {
                "model": f"models/{model}",
                "content": {"parts": [{"text": "alpha beta"}]},
                "outputDimensionality": 3,
            },
            {
                "model": f"models/{model}",
                "content": {"parts": [{"text": "gamma"}]},
                "outputDimensionality": 3,
            },
        ]
    }
    expected = estimate_tokens("alpha beta\ngamma", model)
    assert floats.usage.prompt_tokens == expected  # the count the client is billed
    # The SDK's default is base64, which the gateway writes from the floats.
    decoded = client.embeddings.create(model=model, input="delta")
    assert decoded.data[0].embedding == vector("delta")
    raw = httpx.post(
        gateway.url + "/v1/embeddings",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "input": "delta", "encoding_format": "base64"},
        timeout=20,
    ).json()["data"][0]["embedding"]
    assert list(struct.unpack("<8f", base64.b64decode(raw))) == vector("delta")
    url = gateway.settings.database_url
    wait_for_rows(url, user_id, 3)
    rows = usage_rows(url, user_id)
    assert sorted(r["prompt_tokens"] for r in rows)[-1] == expected


def test_token_ids_cannot_go_to_a_gemini_channel(
    gateway: Gateway, on_gemini: tuple[str, str, str]
) -> None:
    model, key, _ = on_gemini
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="token-id input"):
        client.embeddings.create(model=model, input=[15339, 1917])


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("embedContent", {}, "content.parts"),
        ("embedContent", {"content": {"parts": [{"inlineData": {}}]}}, "text parts"),
        (
            "embedContent",
            {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 0},
            "outputDimensionality",
        ),
        ("batchEmbedContents", {"requests": []}, "requests"),
        ("batchEmbedContents", {"requests": ["x"]}, "requests[0]"),
    ],
)
def test_bad_bodies_are_400_in_googles_shape(
    gateway: Gateway, on_openai: tuple[str, str, str], action: str, body: Any, message: str
) -> None:
    model, key, _ = on_openai
    answer = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:{action}",
        headers={"x-goog-api-key": key},
        json=body,
        timeout=20,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


def test_the_sdk_raises_its_own_errors(
    gateway: Gateway, admin: Admin, on_openai: tuple[str, str, str]
) -> None:
    model, key, _ = on_openai
    client = google(gateway, key)
    with pytest.raises(errors.ClientError) as unknown:
        client.models.embed_content(model="no-such-model", contents=["x"])
    assert unknown.value.code == 404
    chat_only = google(gateway, str(admin.create_token(permissions=["chat"])["key"]))
    with pytest.raises(errors.ClientError) as refused:
        chat_only.models.embed_content(model=model, contents=["x"])
    assert refused.value.code == 403
