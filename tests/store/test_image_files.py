"""The image store: ids (unguessable, expiry inside), a local directory (expiry, sweep,
whole-or-absent writes) and an S3-compatible bucket (signed PUT and GET against a fake that
checks every signature), and a gateway that keeps its URL images in the bucket."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from fakes.images import png, seed
from fakes.openai_upstream import FakeOpenAI
from fakes.s3_bucket import S3_KEY, FakeBucket
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway

from airelay.store.image_bucket import BucketError, BucketImages
from airelay.store.image_files import LocalImages
from airelay.store.image_ids import expiry_of, live, new_id


def test_ids_are_unguessable_and_carry_their_expiry() -> None:
    ids = {new_id("image/png", 60, now=1_000) for _ in range(100)}
    assert len(ids) == 100
    one = next(iter(ids))
    assert expiry_of(one) == 1_060 and one.endswith(".png")
    assert new_id("image/jpeg", 60).endswith(".jpeg") and new_id("image/x", 60).endswith(".png")
    assert live(one, now=1_059) and not live(one, now=1_060)
    for wrong in ("", "x.png", "0000-short.png", one + ".png", "../" + one, one[:-4] + ".exe"):
        assert expiry_of(wrong) is None


def test_local_images_expire_and_are_swept(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalImages(tmp_path / "images", ttl=60)
        image_id = await store.put(b"PNG-1", "image/png")
        # The first write starts a sweep in the background; over before the files below
        # are made (else it may take them first: the sweep below then finds fewer).
        await store.close()
        assert await store.get(image_id) == b"PNG-1"
        assert await store.get(new_id("image/png", 60)) is None  # never stored
        old = new_id("image/png", -1)
        (tmp_path / "images" / old).write_bytes(b"old")
        (tmp_path / "images" / f".{old}.part").write_bytes(b"cut short")
        assert await store.get(old) is None  # on disk but expired
        assert store.sweep() == 2
        assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [image_id]
        assert store.sweep(now=time.time() + 61) == 1
        assert await store.get(image_id) is None
        await store.close()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def bucket() -> Iterator[FakeBucket]:
    with FakeBucket() as fake:
        yield fake


def bucket_store(fake: FakeBucket, secret: str = S3_KEY.secret_key) -> BucketImages:
    return BucketImages(
        fake.bucket,
        60,
        endpoint=fake.endpoint,
        region=fake.region,
        access_key_id=S3_KEY.access_key,
        secret_access_key=secret,
    )


def test_bucket_put_and_get_are_signed(bucket: FakeBucket) -> None:
    async def scenario() -> None:
        store = bucket_store(bucket)
        try:
            image_id = await store.put(b"\x89PNG-bytes", "image/png")
            assert bucket.objects[image_id] == (b"\x89PNG-bytes", "image/png")
            assert await store.get(image_id) == b"\x89PNG-bytes"
            assert await store.get(new_id("image/png", 60)) is None  # 404 from the bucket
            count = len(bucket.requests)
            assert await store.get(new_id("image/png", -1)) is None  # expired: not asked
            assert len(bucket.requests) == count
        finally:
            await store.close()
        wrong = bucket_store(bucket, secret="not-the-secret")
        try:
            with pytest.raises(BucketError, match="403") as caught:
                await wrong.put(b"x", "image/png")
            assert "not-the-secret" not in str(caught.value)
        finally:
            await wrong.close()

    asyncio.run(scenario())


def test_a_gateway_keeps_url_images_in_the_bucket(bucket: FakeBucket, tmp_path: Path) -> None:
    with (
        FakeOpenAI() as upstream,
        Gateway(
            sqlite_url(tmp_path),
            tmp_path / "data",
            image_s3_bucket=bucket.bucket,
            image_s3_endpoint=bucket.endpoint,
            image_s3_access_key_id=S3_KEY.access_key,
            image_s3_secret_access_key=S3_KEY.secret_key,
        ) as gateway,
    ):
        admin = Admin(gateway.url, gateway.admin_key)
        model = unique_model("img-s3")
        admin.create_channel(
            base_url=upstream.base_url,
            api_keys=["sk-upstream-test"],
            models=[model],
            endpoints=["images"],
            price={"per_image": "0.01"},
        )
        client = openai.OpenAI(
            base_url=gateway.url + "/v1", api_key=admin.create_token()["key"], max_retries=0
        )
        reply = client.images.generate(model=model, prompt="s3 fox", response_format="url")
        assert reply.data is not None
        image_id = (reply.data[0].url or "").rsplit("/", 1)[1]
        assert bucket.objects[image_id][0] == png(seed("s3 fox", 0))
        assert not (tmp_path / "data" / "images").exists()  # nothing on the local disk
        served = httpx.get(reply.data[0].url or "", timeout=10)
        assert served.content == png(seed("s3 fox", 0))
        as_b64 = client.images.generate(model=model, prompt="s3 fox", response_format="b64_json")
        assert as_b64.data is not None
        assert base64.b64decode(as_b64.data[0].b64_json or "") == served.content
        admin.close()
