"""OpenAI images requests (generations JSON, edits forms), the pass-through wire, the
answer's images, multipart re-encoding, and the per-image price table."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from airelay.formats import openai_images
from airelay.formats.images import Generated, ImageAnswer, Part, with_images
from airelay.formats.usage import Usage
from airelay.pricing import Price, image_price

WIRE = openai_images.WIRE


def generation(**fields: Any) -> openai_images.ImageRequest:
    payload = {"model": "m", "prompt": "p", **fields}
    body = orjson.dumps(payload)
    return openai_images.check_generation(payload, body, "application/json")


def test_a_generation_is_read_with_its_defaults() -> None:
    request = generation()
    assert (request.model, request.prompt, request.n, request.edit) == ("m", "p", 1, False)
    assert (request.size, request.quality, request.response_format) == (None, None, None)
    full = generation(n=3, size="1792x1024", quality="hd", response_format="url", style="vivid")
    assert (full.n, full.size, full.quality, full.response_format) == (3, "1792x1024", "hd", "url")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n": 11}, "'n'"),
        ({"n": True}, "'n'"),
        ({"size": "1024"}, "unsupported size"),
        ({"size": "0x10"}, "unsupported size"),
        ({"quality": "ultra"}, "'quality'"),
        ({"style": "noir"}, "'style'"),
        ({"output_format": "bmp"}, "'output_format'"),
        ({"user": 5}, "'user'"),
        ({"prompt": "  "}, "'prompt'"),
        ({"model": ""}, "'model'"),
    ],
)
def test_bad_generations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generation(**fields)


def test_not_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        openai_images.check_generation([1], b"[1]", "application/json")


def form(data: dict[str, str], files: dict[str, Any]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x", data=data, files=files)
    return request.read(), request.headers["content-type"]


def test_an_edit_form_is_read_in_order() -> None:
    body, content_type = form(
        {"model": "m", "prompt": "p", "n": "2", "size": "1024x1024"},
        [("image[]", ("a.png", b"A", "image/png")), ("image[]", ("b.png", b"B", "image/png")),
         ("mask", ("m.png", b"M", "image/png"))],
    )  # fmt: skip
    request = openai_images.check_edit(
        openai_images.form_parts(body, content_type), body, content_type
    )
    assert request.edit and request.n == 2 and request.size == "1024x1024"
    assert [image.data for image in request.images] == [b"A", b"B"]
    assert request.mask is not None and request.mask.data == b"M"
    # Same model: the very bytes; renamed: the same parts under a new boundary.
    assert WIRE.build(request, "m").body == body
    renamed = WIRE.build(request, "upstream-m")
    assert renamed.content_type is not None and renamed.content_type != content_type
    parts = openai_images.form_parts(renamed.body, renamed.content_type)
    assert [(p.name, p.data) for p in parts] == [
        ("model", b"upstream-m"), ("prompt", b"p"), ("n", b"2"), ("size", b"1024x1024"),
        ("image[]", b"A"), ("image[]", b"B"), ("mask", b"M"),
    ]  # fmt: skip
    assert WIRE.url("https://u/v1/images/generations", request) == "https://u/v1/images/edits"


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([Part("model", b"m"), Part("prompt", b"p")], "'image' is required"),
        ([Part("image", b"A"), Part("model", b"m"), Part("prompt", b"p")], "must be a file"),
        ([Part("image", b"", "a.png"), Part("model", b"m"), Part("prompt", b"p")], "empty"),
        ([Part("image", b"A", "a.png"), Part("model", b"m"), Part("n", b"two")], "'n'"),
        ([Part("image", b"A", "a.png"), Part("x", b"A", "x.bin"), Part("model", b"m")], "'x'"),
    ],
)
def test_bad_edit_forms(parts: list[Part], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        openai_images.check_edit(parts, b"", "multipart/form-data; boundary=x")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"nothing here"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"'),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--"),
    ],
)
def test_malformed_forms(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        openai_images.form_parts(body, content_type)


def test_a_generation_renamed_keeps_every_other_field() -> None:
    request = generation(size="1024x1024", background="transparent")
    assert WIRE.build(request, "m").body == request.body
    assert orjson.loads(WIRE.build(request, "up").body) == {
        "model": "up", "prompt": "p", "size": "1024x1024", "background": "transparent",
    }  # fmt: skip


def test_answers_are_read_and_written_back_with_their_other_fields() -> None:
    body = orjson.dumps(
        {
            "created": 7,
            "background": "opaque",
            "data": [{"b64_json": "AAAA"}, {"url": "https://u/x.png", "revised_prompt": "r"}],
            "usage": {"input_tokens": 5, "output_tokens": 10},
        }
    )
    answer = WIRE.answer(body)
    assert isinstance(answer, ImageAnswer)
    assert answer.usage == Usage(prompt_tokens=5, completion_tokens=10)
    assert [(i.b64, i.url) for i in answer.images] == [("AAAA", None), (None, "https://u/x.png")]
    answer.images[0] = Generated(url="https://gw/1.png")
    out = with_images(answer, 99)
    assert out["created"] == 7 and out["background"] == "opaque" and out["usage"]
    assert out["data"] == [
        {"url": "https://gw/1.png"},
        {"url": "https://u/x.png", "revised_prompt": "r"},
    ]
    for bad in (b"[]", b'{"data": []}', b'{"data": [{}]}', b'{"data": "x"}', b"not json"):
        with pytest.raises(ValueError):
            WIRE.answer(bad)


def test_per_image_prices() -> None:
    assert image_price(Price(), "1024x1024", "hd") is None  # priced by tokens
    assert image_price(Price(per_image=400), None, None) == 400
    table = Price(per_image={"1024x1024": 400, "1024x1024/hd": 800, "default": 200})
    assert image_price(table, "1024x1024", "hd") == 800
    assert image_price(table, "1024x1024", "standard") == 400
    assert image_price(table, "1792x1024", None) == 200
    assert image_price(table, None, None) == 200
    strict = Price(per_image={"1024x1024": 400, "auto": 100})
    assert image_price(strict, None, "high") == 100
    with pytest.raises(LookupError, match="512x512"):
        image_price(strict, "512x512", None)
