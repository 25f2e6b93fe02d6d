"""Image calls translated for upstreams that do not speak OpenAI's images API, with the
official OpenAI SDK as the client, over real HTTP on loopback, on SQLite and PostgreSQL:

- a Gemini image model (``generateContent`` asked for ``IMAGE`` output; inline images
  back), generations and edits, billed on the tokens it reports;
- DashScope's image synthesis, an asynchronous task the gateway submits and polls until it
  ends, answering the client at once with the images (its URLs, or the images fetched and
  sent as base64), billed per image; a failed task charges nothing.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from fakes.dashscope_upstream import FakeDashScope
from fakes.gemini_images import IMAGE_TOKENS, TOKENS_PER_INPUT_IMAGE, FakeGeminiImages
from fakes.images import png, seed
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway
from support.ledger import books, usage_rows

from airelay.money import usd_to_units


@dataclass
class Route:
    model: str
    key: str
    user_id: str


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGeminiImages]:
    with FakeGeminiImages() as fake:
        yield fake


@pytest.fixture(scope="module")
def dashscope() -> Iterator[FakeDashScope]:
    with FakeDashScope(polls=3) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(gemini: FakeGeminiImages, dashscope: FakeDashScope) -> None:
    gemini.reset()
    dashscope.reset()


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def route(admin: Admin, price: dict[str, object], **channel: object) -> Route:
    model = unique_model("img")
    upstream_model = channel.pop("upstream_model")
    admin.create_channel(models=[], model_mapping={model: upstream_model}, price=price, **channel)
    user = admin.create_user(balance=10)
    return Route(model, admin.create_token(user["id"])["key"], user["id"])


@pytest.fixture
def flash(admin: Admin, gemini: FakeGeminiImages) -> Route:
    return route(
        admin,
        {"input": "0.3", "output": "30"},
        type="gemini",
        base_url=gemini.base_url,
        api_keys=["gemini-image-key"],
        endpoints=["images"],
        upstream_model="gemini-2.5-flash-image",
    )


@pytest.fixture
def wan(admin: Admin, dashscope: FakeDashScope) -> Route:
    return route(
        admin,
        {"per_image": "0.02"},
        type="dashscope",
        base_url=dashscope.base_url,
        api_keys=["sk-dashscope-test"],
        upstream_model="wan2.2-t2i-flash",
    )


def gemini_cost(prompt_tokens: int, images: int) -> int:
    per_million = prompt_tokens * usd_to_units("0.3") + images * IMAGE_TOKENS * usd_to_units("30")
    return -(-per_million // 1_000_000)


def test_gemini_generation_translated_both_ways(
    gateway: Gateway, flash: Route, gemini: FakeGeminiImages
) -> None:
    reply = sdk(gateway, flash.key).images.generate(
        model=flash.model, prompt="a paper boat", n=2, size="1536x1024",
        response_format="b64_json",
    )  # fmt: skip
    assert reply.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in reply.data] == [
        png(seed("a paper boat", 0)),
        png(seed("a paper boat", 1)),
    ]
    sent = gemini.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == "gemini-image-key"
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "a paper boat"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "candidateCount": 2,
            "imageConfig": {"aspectRatio": "3:2"},
        },
    }
    (row,) = usage_rows(gateway.settings.database_url, flash.user_id)
    assert (row["prompt_tokens"], row["completion_tokens"], row["images"]) == (
        3,
        2 * IMAGE_TOKENS,
        2,
    )
    assert row["cost"] == gemini_cost(3, 2) == 774_009_000


def test_gemini_url_is_stored_by_the_gateway(gateway: Gateway, flash: Route) -> None:
    reply = sdk(gateway, flash.key).images.generate(
        model=flash.model, prompt="a kite", response_format="url"
    )
    assert reply.data is not None
    link = reply.data[0].url or ""
    assert link.startswith(gateway.url + "/v1/files/images/")  # no public_url: the origin
    assert httpx.get(link, timeout=10).content == png(seed("a kite", 0))


def test_gemini_edit_sends_the_images_inline(
    gateway: Gateway, flash: Route, gemini: FakeGeminiImages
) -> None:
    source = png("photo")
    reply = sdk(gateway, flash.key).images.edit(
        model=flash.model,
        image=("photo.png", source, "image/png"),
        prompt="make it night",
        response_format="b64_json",
    )
    digest = hashlib.sha256(source).hexdigest()[:16]
    assert reply.data is not None
    assert base64.b64decode(reply.data[0].b64_json or "") == png(seed("make it night", 0, digest))
    parts = gemini.requests[-1].body["contents"][0]["parts"]  # type: ignore[index]
    assert parts[0] == {"text": "make it night"}
    assert parts[1]["inlineData"] == {
        "mimeType": "image/png",
        "data": base64.b64encode(source).decode(),
    }
    (row,) = usage_rows(gateway.settings.database_url, flash.user_id)
    prompt_tokens = 3 + TOKENS_PER_INPUT_IMAGE
    assert (row["endpoint"], row["cost"]) == ("/v1/images/edits", gemini_cost(prompt_tokens, 1))


def test_gemini_answer_without_an_image_charges_nothing(gateway: Gateway, flash: Route) -> None:
    before = books(gateway.settings.database_url, flash.user_id)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, flash.key).images.generate(model=flash.model, prompt="please refuse")
    assert caught.value.status_code == 502 and "image" in caught.value.message
    time.sleep(0.3)
    after = books(gateway.settings.database_url, flash.user_id)
    assert after.usage_rows == 0 and after.spendable == before.spendable


def test_dashscope_task_polled_and_urls_passed_on(
    gateway: Gateway, wan: Route, dashscope: FakeDashScope
) -> None:
    reply = sdk(gateway, wan.key).images.generate(
        model=wan.model, prompt="a lantern", n=2, size="1024x1024", response_format="url"
    )
    assert reply.data is not None
    assert [d.url for d in reply.data] == [
        f"{dashscope.origin}/files/{task}/{i}.png" for task in dashscope.tasks for i in (0, 1)
    ]
    assert reply.data[0].revised_prompt == "a lantern, detailed"
    submit, *polls = dashscope.requests
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.headers["authorization"] == "Bearer sk-dashscope-test"
    assert submit.body == {
        "model": "wan2.2-t2i-flash",
        "input": {"prompt": "a lantern"},
        "parameters": {"n": 2, "size": "1024*1024"},
    }
    assert len(polls) == 3 and all(p.path.startswith("/api/v1/tasks/") for p in polls)
    (row,) = usage_rows(gateway.settings.database_url, wan.user_id)
    assert (row["images"], row["cost"]) == (2, 2 * usd_to_units("0.02"))


def test_dashscope_images_fetched_for_b64_json(
    gateway: Gateway, wan: Route, dashscope: FakeDashScope
) -> None:
    reply = sdk(gateway, wan.key).images.generate(
        model=wan.model, prompt="a comet", response_format="b64_json"
    )
    assert reply.data is not None and reply.data[0].url is None
    assert base64.b64decode(reply.data[0].b64_json or "") == png(seed("a comet", 0))
    assert dashscope.requests[-1].path.startswith("/files/")  # fetched from the upstream


def test_dashscope_failed_task_charges_nothing(
    gateway: Gateway, wan: Route, dashscope: FakeDashScope
) -> None:
    before = books(gateway.settings.database_url, wan.user_id)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, wan.key).images.generate(model=wan.model, prompt="please fail", n=4)
    assert caught.value.status_code == 502
    assert "inappropriate content" in caught.value.message
    time.sleep(0.3)
    after = books(gateway.settings.database_url, wan.user_id)
    assert after.usage_rows == 0 and after.spendable == before.spendable


def test_dashscope_edits_are_refused(gateway: Gateway, wan: Route) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, wan.key).images.edit(
            model=wan.model, image=("a.png", png("a"), "image/png"), prompt="x"
        )
    assert "does not edit images" in caught.value.message


def test_a_client_that_leaves_is_billed_what_the_task_made(
    gateway: Gateway, wan: Route, dashscope: FakeDashScope
) -> None:
    """The upstream makes (and bills) the images whether the client waits or not: the call
    runs to its end and is settled once."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway.url + "/v1/images/generations",
            json={"model": wan.model, "prompt": "a lighthouse", "n": 2},
            headers={"Authorization": f"Bearer {wan.key}"},
            timeout=httpx.Timeout(10, read=0.3),
        )
    (row,) = usage_rows(gateway.settings.database_url, wan.user_id)
    assert (row["images"], row["cost"]) == (2, 2 * usd_to_units("0.02"))
    assert len([r for r in dashscope.requests if r.method == "POST"]) == 1


def test_a_task_that_does_not_end_in_time_is_504_and_charges_nothing(tmp_path: Path) -> None:
    with (
        FakeDashScope(polls=10_000) as slow,
        Gateway(sqlite_url(tmp_path), tmp_path / "data", image_task_timeout=1.0) as gateway,
    ):
        admin = Admin(gateway.url, gateway.admin_key)
        wan = route(
            admin,
            {"per_image": "0.02"},
            type="dashscope",
            base_url=slow.base_url,
            api_keys=["sk-dashscope-test"],
            upstream_model="wan2.2-t2i-flash",
        )
        before = books(gateway.settings.database_url, wan.user_id)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            sdk(gateway, wan.key).images.generate(model=wan.model, prompt="slow", n=2)
        assert caught.value.status_code == 504
        assert time.monotonic() - started < 5
        assert len(slow.requests) >= 3  # submitted, then polled until the deadline
        time.sleep(0.3)
        after = books(gateway.settings.database_url, wan.user_id)
        assert after.usage_rows == 0 and after.spendable == before.spendable
        admin.close()
