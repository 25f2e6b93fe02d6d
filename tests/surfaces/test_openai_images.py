"""``POST /v1/images/generations`` and ``/v1/images/edits`` through the gateway with the
official OpenAI SDK as the client and the fake OpenAI upstream behind it, over real HTTP on
loopback, on SQLite and on PostgreSQL: the bytes passed through (model renamed), images
priced per image by size and quality and billed exactly (golden costs), one usage row with
``images`` per call; an image given as bytes kept and served at ``/v1/files/images/{id}``
when a URL is asked for, until it expires; permissions, allow-lists, unknown models, bad
bodies and upstream failures (nothing charged).
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
from fakes.images import png, seed
from fakes.openai_images import read_form
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows

from airelay.money import usd_to_units
from airelay.store.image_ids import new_id

PRICES = {"1024x1024": "0.04", "1024x1024/hd": "0.08", "default": "0.02"}
UPSTREAM_MODEL = "gpt-image-1"


def units(usd: str) -> int:
    return usd_to_units(usd)


@dataclass
class Images:
    model: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with Gateway(database_url, data_dir, public_url="https://img.example.test") as running:
        yield running


@pytest.fixture
def images(admin: Admin, upstream: FakeOpenAI) -> Images:
    """A public model renamed to gpt-image-1 by a channel that serves images, per image."""
    model = unique_model("img")
    channel = admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={model: UPSTREAM_MODEL},
        endpoints=["images"],
        price={"per_image": PRICES},
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Images(model, key, user["id"], channel["id"])


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def test_b64_json_renamed_model_and_golden_cost(
    gateway: Gateway, images: Images, upstream: FakeOpenAI
) -> None:
    url = gateway.settings.database_url
    before = books(url, images.user_id)
    reply = sdk(gateway, images.key).images.generate(
        model=images.model, prompt="a red fox", n=2, size="1024x1024", response_format="b64_json"
    )
    assert reply.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in reply.data] == [
        png(seed("a red fox", 0)),
        png(seed("a red fox", 1)),
    ]
    sent = upstream.images_requests[-1]
    assert sent.path == "/v1/images/generations"
    assert sent.body == {
        "model": UPSTREAM_MODEL,
        "prompt": "a red fox",
        "n": 2,
        "size": "1024x1024",
        "response_format": "b64_json",
    }
    after = wait_for_rows(url, images.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == 2 * units("0.04") == 800_000_000
    assert after.credits - after.usage_cost == after.spendable
    (row,) = usage_rows(url, images.user_id)
    assert row["endpoint"] == "/v1/images/generations" and row["model"] == images.model
    assert (row["images"], row["prompt_tokens"], row["cost"]) == (2, 0, 800_000_000)
    assert row["channel_id"] == images.channel_id and row["status"] == 200


def test_url_asked_of_an_upstream_giving_bytes_is_stored_and_served(
    gateway: Gateway, images: Images
) -> None:
    """gpt-image answers base64 whatever is asked: the gateway keeps the image and answers
    its own URL, on ``public_url``; the URL needs no key and serves the exact bytes."""
    reply = sdk(gateway, images.key).images.generate(
        model=images.model, prompt="a blue owl", size="1024x1024", quality="hd",
        response_format="url",
    )  # fmt: skip
    assert reply.data is not None and reply.data[0].b64_json is None
    link = reply.data[0].url or ""
    assert link.startswith("https://img.example.test/v1/files/images/"), link
    image_id = link.rsplit("/", 1)[1]
    assert image_id.endswith(".png") and len(image_id.split("-", 1)[1]) == 32 + len(".png")
    fetched = httpx.get(gateway.url + "/v1/files/images/" + image_id, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content == png(seed("a blue owl", 0))
    (row,) = usage_rows(gateway.settings.database_url, images.user_id)
    assert (row["images"], row["cost"]) == (1, units("0.08"))  # the hd price of the size


def test_an_upstream_url_passes_through(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    """dall-e answers URLs on its own storage: they reach the client as they are."""
    model = unique_model("dalle")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={model: "dall-e-3"},
        endpoints=["images"],
        price={"per_image": "0.04"},
    )
    reply = sdk(gateway, admin.create_token()["key"]).images.generate(
        model=model, prompt="a cat", response_format="url"
    )
    assert reply.data is not None
    assert (reply.data[0].url or "").startswith(upstream.origin + "/files/")
    assert reply.data[0].revised_prompt == "A CAT"


def test_expired_tampered_and_unknown_ids_are_404(gateway: Gateway, images: Images) -> None:
    reply = sdk(gateway, images.key).images.generate(
        model=images.model, prompt="an elk", size="1024x1024", response_format="url"
    )
    assert reply.data is not None
    image_id = (reply.data[0].url or "").rsplit("/", 1)[1]
    expiry, secret = image_id.split("-", 1)
    assert time.time() + 3500 < int(expiry, 16) <= time.time() + 3600  # the default TTL
    # The expiry cannot be pushed out: that names another file.
    later = f"{int(expiry, 16) + 86400:08x}-{secret}"
    directory = gateway.settings.data_dir / "images"
    expired = new_id("image/png", -10)
    (directory / expired).write_bytes(png("old"))  # on disk, but past its expiry
    for wrong in (later, expired, new_id("image/png", 60), "x.png", "..%2Fsecret.key"):
        answer = httpx.get(gateway.url + "/v1/files/images/" + wrong, timeout=10)
        assert answer.status_code == 404, wrong
        assert "expired" in answer.json()["error"]["message"]
    assert httpx.get(gateway.url + "/v1/files/images/" + image_id).status_code == 200


def test_edit_multipart_passes_the_files_through(
    gateway: Gateway, images: Images, upstream: FakeOpenAI
) -> None:
    source, mask = png("source"), png("mask")
    reply = sdk(gateway, images.key).images.edit(
        model=images.model,
        image=("source.png", source, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt="add a hat",
        size="1024x1024",
        response_format="b64_json",
    )
    assert reply.data is not None
    digests = [hashlib.sha256(data).hexdigest()[:16] for data in (source, mask)]
    assert base64.b64decode(reply.data[0].b64_json or "") == png(seed("add a hat", 0, *digests))
    sent = upstream.images_requests[-1]
    assert sent.path == "/v1/images/edits"
    fields, files = read_form(sent.raw, sent.headers["content-type"])
    assert fields["model"] == UPSTREAM_MODEL and fields["prompt"] == "add a hat"
    assert files == [source, mask]
    (row,) = usage_rows(gateway.settings.database_url, images.user_id)
    assert (row["endpoint"], row["images"], row["cost"]) == ("/v1/images/edits", 1, units("0.04"))


def test_edit_bytes_unchanged_when_the_model_is_not_renamed(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("img-raw")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["images"],
        price={"per_image": "0.01"},
    )
    form = httpx.Request(
        "POST",
        gateway.url,
        data={"model": model, "prompt": "p", "n": "1", "response_format": "b64_json"},
        files={"image[]": ("a.png", png("a"), "image/png")},
    )
    raw = form.read()
    response = httpx.post(
        gateway.url + "/v1/images/edits",
        content=raw,
        headers={
            "Authorization": f"Bearer {admin.create_token()['key']}",
            "Content-Type": form.headers["content-type"],
        },
        timeout=20,
    )
    assert response.status_code == 200, response.text
    sent = upstream.images_requests[-1]
    assert sent.raw == raw  # the very bytes the client sent


def test_token_priced_model_bills_the_tokens_reported(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    """A model without a per-image price is billed on gpt-image's reported tokens."""
    model = unique_model("img-tokens")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={model: UPSTREAM_MODEL},
        endpoints=["images"],
        price={"input": 5, "output": 40},
    )
    user = admin.create_user(balance=10)
    sdk(gateway, admin.create_token(user["id"])["key"]).images.generate(
        model=model, prompt="three word prompt", n=2, response_format="b64_json"
    )
    (row,) = usage_rows(gateway.settings.database_url, user["id"])
    # 3 input tokens at $5/1M, 200 output tokens at $40/1M.
    expected = (3 * units("5") + 200 * units("40")) // 1_000_000
    assert (row["prompt_tokens"], row["completion_tokens"], row["images"]) == (3, 200, 2)
    assert row["cost"] == expected == 80_150_000


def test_unknown_model_is_404(gateway: Gateway, images: Images) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, images.key).images.generate(model="no-such-image-model", prompt="x")
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, images.key).images.edit(
            model="no-such-image-model", image=("a.png", png("a"), "image/png"), prompt="x"
        )


def test_key_permissions_and_allow_list(
    gateway: Gateway, admin: Admin, images: Images, upstream: FakeOpenAI
) -> None:
    chat_only = admin.create_token(images.user_id, permissions=["chat"])["key"]
    for call in (
        lambda c: c.images.generate(model=images.model, prompt="x"),
        lambda c: c.images.edit(model=images.model, image=("a.png", png("a")), prompt="x"),
    ):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            call(sdk(gateway, chat_only))
        assert "images" in caught.value.message
    other_model = admin.create_token(images.user_id, models=["something-else"])["key"]
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, other_model).images.generate(model=images.model, prompt="x")
    assert not upstream.images_requests
    assert books(gateway.settings.database_url, images.user_id).usage_rows == 0


def test_upstream_failure_charges_nothing(
    gateway: Gateway, images: Images, upstream: FakeOpenAI
) -> None:
    url = gateway.settings.database_url
    before = books(url, images.user_id)
    upstream.script(Behaviour.error(500))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway, images.key).images.generate(model=images.model, prompt="x", n=3)
    assert caught.value.status_code == 502
    assert "sk-upstream-test" not in caught.value.message
    upstream.script(Behaviour.error(400, "Your prompt was rejected by the safety system."))
    with pytest.raises(openai.BadRequestError) as rejected:
        sdk(gateway, images.key).images.generate(model=images.model, prompt="x")
    assert "safety system" in rejected.value.message
    upstream.script(Behaviour.drop_after(0))  # a 200 cut short: unusable, nothing made
    with pytest.raises(openai.InternalServerError):
        sdk(gateway, images.key).images.generate(model=images.model, prompt="x")
    time.sleep(0.3)  # any row would have been flushed by now
    after = books(url, images.user_id)
    assert after.usage_rows == before.usage_rows == 0
    assert after.usage_cost == 0 and after.spendable == before.spendable


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "x"}, "'model' is required"),
        ({"model": "m"}, "'prompt' is required"),
        ({"model": "m", "prompt": "x", "n": 0}, "'n' must be"),
        ({"model": "m", "prompt": "x", "n": "2"}, "'n' must be"),
        ({"model": "m", "prompt": "x", "size": "huge"}, "unsupported size"),
        ({"model": "m", "prompt": "x", "response_format": "png"}, "'response_format'"),
        ({"model": "m", "prompt": "x", "quality": 3}, "'quality'"),
        ({"model": "m", "prompt": "x", "stream": True}, "'stream'"),
    ],
)
def test_bad_generation_bodies_are_400(
    gateway: Gateway, images: Images, body: dict[str, object], message: str
) -> None:
    response = httpx.post(
        gateway.url + "/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {images.key}"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_bad_edit_forms_are_400(gateway: Gateway, images: Images) -> None:
    headers = {"Authorization": f"Bearer {images.key}"}
    no_image = httpx.post(
        gateway.url + "/v1/images/edits",
        data={"model": images.model, "prompt": "x"},
        files={"mask": ("m.png", png("m"), "image/png")},
        headers=headers,
    )
    assert no_image.status_code == 400 and "'image'" in no_image.json()["error"]["message"]
    as_json = httpx.post(
        gateway.url + "/v1/images/edits", json={"model": images.model}, headers=headers
    )
    assert as_json.status_code == 400
    assert "multipart/form-data" in as_json.json()["error"]["message"]


def test_an_unpriced_size_is_400_and_nothing_is_called(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("img-sized")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["images"],
        price={"per_image": {"1024x1024": "0.04"}},
    )
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, admin.create_token()["key"]).images.generate(
            model=model, prompt="x", size="512x512"
        )
    assert "512x512" in caught.value.message and "1024x1024" in caught.value.message
    assert not upstream.images_requests


def test_insufficient_balance_is_402(gateway: Gateway, admin: Admin, images: Images) -> None:
    poor = admin.create_user(balance="0.05")  # one 1024x1024 image, not two
    key = admin.create_token(poor["id"])["key"]
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway, key).images.generate(model=images.model, prompt="x", n=2, size="1024x1024")
    assert caught.value.status_code == 402
    reply = sdk(gateway, key).images.generate(
        model=images.model, prompt="x", size="1024x1024", response_format="b64_json"
    )
    assert reply.data is not None and len(reply.data) == 1


def test_the_model_list_shows_the_images_endpoint(
    gateway: Gateway, admin: Admin, images: Images
) -> None:
    listed = {m.id: m for m in sdk(gateway, images.key).models.list()}
    assert listed[images.model].model_extra == {"endpoints": ["images"]}
    chat_only = admin.create_token(images.user_id, permissions=["chat"])["key"]
    assert images.model not in {m.id for m in sdk(gateway, chat_only).models.list()}


@pytest.mark.parametrize("key", ["1024X1024", "big", "1024x1024/ultra", "default/hd", ""])
def test_a_per_image_key_no_call_can_match_is_refused(admin: Admin, key: str) -> None:
    response = admin.http.post(
        "/v1/admin/models",
        json={"id": unique_model("img-bad"), "pricing": {"per_image": {key: 0.04}}},
    )
    assert response.status_code == 400, response.text
    assert "per_image" in response.json()["error"]["message"]
